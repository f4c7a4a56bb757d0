package pxe

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sync/errgroup"
)

// proxyHandler is the DHCP side of a Server in DHCPProxy mode: a ProxyDHCP
// server as the PXE specification (version 2.1) describes it.
// Another DHCP server on the link hands out the addresses; this one answers
// only netboot firmware, and only with what to boot:
//
//	client               address server         we (ProxyDHCP)
//	DISCOVER (bcast) --> OFFER of an address
//	                 --> ProxyDHCP OFFER, port 67: yiaddr 0, option 60, siaddr, boot file
//	REQUEST (bcast)  --> ACK                     (not ours: ignored)
//	REQUEST to us:4011 ------------------------> ACK with the boot file, to ciaddr
//
// iPXE and BIOS PXE ROMs boot from the OFFER (see bootFiles.optionsFor);
// UEFI PXE asks on port 4011 first. Like dhcpHandler it owns no socket.
type proxyHandler struct {
	serverIP netip.Addr
	boot     bootFiles
	stats    *dhcpCounters
	log      *slog.Logger
	// ifIndex is Config.Interface's index, where clients broadcasting to
	// us must be. Run sets it; 0 in tests, where arrivals say 0.
	ifIndex int
}

func newProxyHandler(cfg Config, boot bootFiles, stats *dhcpCounters) *proxyHandler {
	return &proxyHandler{
		serverIP: cfg.ServerIP,
		boot:     boot,
		stats:    stats,
		log:      cfg.Logger.With("service", "dhcp", "mode", DHCPProxy.String()),
	}
}

// run serves port 67 on dhcp and port 4011 on bootServer until ctx is done,
// then closes both; if one fails, it stops the other and returns that error.
func (h *proxyHandler) run(ctx context.Context, dhcp, bootServer *dhcpSocket) error {
	h.ifIndex = dhcp.ifIndex
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return dhcp.run(ctx, h.handle) })
	g.Go(func() error { return bootServer.run(ctx, h.handleBootServer) })
	return g.Wait()
}

// handle answers one datagram that came to port 67: a DISCOVER from netboot
// firmware gets a ProxyDHCP OFFER, broadcast (or to its relay agent) like
// any offer to a client without an address; the rest gets nothing.
func (h *proxyHandler) handle(raw []byte, from arrival) *reply {
	return answerDatagram(raw, from, h.stats, h.log, func(req *request) (*reply, *drop) {
		msg, d := h.offer(req, from)
		if d != nil {
			return nil, d
		}
		h.stats.proxyOffers.Add(1)
		h.log.Debug("ProxyDHCP offer", "mac", req.mac.String(), "file", msg.BootFileName)
		to, how := replyDestination(req, msg)
		return &reply{msg: msg, to: to, how: how}, nil
	})
}

func (h *proxyHandler) offer(req *request, from arrival) (*dhcpv4.DHCPv4, *drop) {
	if !req.relay.IsValid() && from.ifIndex != h.ifIndex {
		return nil, dropf(dropWrongInterface, "unrelayed, to %v, on interface %d", from.dst, from.ifIndex)
	}
	if req.serverID.IsValid() && req.serverID != h.serverIP {
		return nil, dropf(dropOtherServer, "server identifier %v", req.serverID)
	}
	if req.msgType != dhcpv4.MessageTypeDiscover {
		return nil, dropf(dropLeaseTraffic, "%v on port 67 is for the server that owns the addresses", req.msgType)
	}
	return h.bootReply(req, dhcpv4.MessageTypeOffer)
}

// handleBootServer answers one datagram that came to port 4011: a REQUEST
// from netboot firmware that has an address gets an ACK with what to boot.
func (h *proxyHandler) handleBootServer(raw []byte, from arrival) *reply {
	return answerDatagram(raw, from, h.stats, h.log, func(req *request) (*reply, *drop) {
		out, d := h.ack(req, from)
		if d != nil {
			return nil, d
		}
		h.stats.proxyAcks.Add(1)
		h.log.Info("ProxyDHCP ack on port 4011", "mac", req.mac.String(), "to", out.to.String(), "file", out.msg.BootFileName)
		return out, nil
	})
}

// ack answers a REQUEST to port 4011. The ACK goes to the client's address
// (ciaddr, else the request's source) and to the port the request came
// from, not always 68: iPXE sends from 68 and listens there, but EDK2's
// UEFI PXE (OVMF, seen on the wire) sends from 4011 and listens only
// there, so the source port is the one both hear, as dnsmasq and
// Pixiecore answer too.
func (h *proxyHandler) ack(req *request, from arrival) (*reply, *drop) {
	if req.msgType != dhcpv4.MessageTypeRequest {
		return nil, dropf(dropUnsupportedType, "%v on port 4011", req.msgType)
	}
	if req.serverID.IsValid() && req.serverID != h.serverIP {
		return nil, dropf(dropOtherServer, "server identifier %v", req.serverID)
	}
	to := req.clientIP
	if !to.IsValid() && from.peer.Addr().Is4() && !from.peer.Addr().IsUnspecified() {
		to = from.peer.Addr()
	}
	if !to.IsValid() || from.peer.Port() == 0 {
		return nil, dropf(dropNoClientAddress, "ciaddr 0.0.0.0, from %v", from.peer)
	}
	msg, d := h.bootReply(req, dhcpv4.MessageTypeAck)
	if d != nil {
		return nil, d
	}
	msg.ClientIPAddr = req.msg.ClientIPAddr // RFC 2131 table 3: an ACK echoes ciaddr
	return &reply{msg: msg, to: netip.AddrPortFrom(to, from.peer.Port()), how: toClientAddress}, nil
}

// bootReply is a ProxyDHCP OFFER or ACK to req: what to boot, and no
// address, lease or network settings, which are the address server's.
func (h *proxyHandler) bootReply(req *request, t dhcpv4.MessageType) (*dhcpv4.DHCPv4, *drop) {
	fw := identifyFirmware(req.msg)
	if !fw.netboot() {
		return nil, dropf(dropNotNetboot, "no option 60 PXEClient or HTTPClient, no option 77 iPXE")
	}
	o, ok := h.boot.optionsFor(fw, DHCPProxy)
	if !ok {
		return nil, dropf(dropNoIPXEBinary, "arch %s, vendor class %s", fw.archName(), fw.vendorClass)
	}
	m := newReply(req, t, h.serverIP)
	o.addTo(m)
	if uuid := req.msg.Options.Get(dhcpv4.OptionClientMachineIdentifier); len(uuid) == 17 && uuid[0] == 0 {
		// PXE 2.1: replies to PXE clients carry their client machine
		// identifier (option 97: type 0 and a 16-byte UUID) back.
		m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, uuid))
	}
	return m, nil
}
