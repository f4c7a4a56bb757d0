package pxe

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// dhcpHandler turns DHCP packets into replies. It owns no socket (see
// dhcp_conn.go), so tests and the fuzzer drive it directly.
type dhcpHandler struct {
	cfg    Config
	boot   bootFiles
	leases *leasePool
	stats  *dhcpCounters
	log    *slog.Logger
	now    func() time.Time
}

// reply is a message to send and where to.
type reply struct {
	msg *dhcpv4.DHCPv4
	to  *net.UDPAddr
}

// handle answers one datagram. It returns nil when there is nothing to send:
// the packet was dropped (counted and logged with its reason) or needed no
// answer (RELEASE, DECLINE).
func (h *dhcpHandler) handle(raw []byte, peer net.Addr) *reply {
	req, d := decodeRequest(raw)
	var msg *dhcpv4.DHCPv4
	if d == nil {
		msg, d = h.respond(req)
	}
	if d != nil {
		h.stats.drops[d.reason].Add(1)
		h.log.Log(context.Background(), d.reason.level(), "dropped DHCP packet",
			"reason", d.reason.String(), "detail", d.detail, "peer", peer.String())
		return nil
	}
	if msg == nil {
		return nil
	}
	return &reply{msg: msg, to: destination(req, msg)}
}

// respond is the server's part of RFC 2131 for one request.
func (h *dhcpHandler) respond(req *request) (*dhcpv4.DHCPv4, *drop) {
	now := h.now()
	if req.serverID.IsValid() && req.serverID != h.cfg.ServerIP {
		if req.msgType == dhcpv4.MessageTypeRequest {
			// The client took another server's offer: free ours.
			h.leases.withdraw(string(req.mac), now)
		}
		return nil, dropf(dropOtherServer, "server identifier %v", req.serverID)
	}
	switch req.msgType {
	case dhcpv4.MessageTypeDiscover:
		return h.discover(req, now)
	case dhcpv4.MessageTypeRequest:
		return h.request(req, now)
	case dhcpv4.MessageTypeRelease:
		return nil, h.release(req, now)
	case dhcpv4.MessageTypeDecline:
		return nil, h.decline(req, now)
	default:
		return nil, dropf(dropUnsupportedType, "%v", req.msgType)
	}
}

func (h *dhcpHandler) discover(req *request, now time.Time) (*dhcpv4.DHCPv4, *drop) {
	addr, err := h.leases.offer(string(req.mac), req.requestedIP, now)
	if err != nil {
		return nil, dropf(dropRangeExhausted, "%v for %v", err, req.mac)
	}
	h.stats.offers.Add(1)
	h.log.Debug("DHCP offer", "mac", req.mac.String(), "addr", addr)
	return h.leaseReply(req, dhcpv4.MessageTypeOffer, addr.AsSlice()), nil
}

func (h *dhcpHandler) request(req *request, now time.Time) (*dhcpv4.DHCPv4, *drop) {
	// SELECTING and INIT-REBOOT clients name the address in option 50,
	// RENEWING and REBINDING ones in ciaddr.
	addr := req.requestedIP
	if !addr.IsValid() {
		addr = req.clientIP
	}
	if !addr.IsValid() {
		return nil, dropf(dropNoRequestedAddress, "from %v", req.mac)
	}
	if err := h.leases.ack(string(req.mac), addr, now); err != nil {
		h.stats.naks.Add(1)
		h.log.Info("DHCP nak", "mac", req.mac.String(), "addr", addr, "why", err)
		nak := newReply(req, dhcpv4.MessageTypeNak, h.cfg.ServerIP.AsSlice())
		nak.UpdateOption(dhcpv4.OptMessage(err.Error())) // option 56, for the client's log
		return nak, nil
	}
	h.stats.acks.Add(1)
	h.log.Info("DHCP lease", "mac", req.mac.String(), "addr", addr, "lease", h.cfg.LeaseTime)
	ack := h.leaseReply(req, dhcpv4.MessageTypeAck, addr.AsSlice())
	ack.ClientIPAddr = req.msg.ClientIPAddr // RFC 2131 table 3: an ACK echoes ciaddr
	return ack, nil
}

func (h *dhcpHandler) release(req *request, now time.Time) *drop {
	if !h.leases.release(string(req.mac), req.clientIP, now) {
		return dropf(dropUnknownLease, "%v does not hold %v", req.mac, req.clientIP)
	}
	h.log.Info("DHCP release", "mac", req.mac.String(), "addr", req.clientIP)
	return nil
}

func (h *dhcpHandler) decline(req *request, now time.Time) *drop {
	if !h.leases.decline(string(req.mac), req.requestedIP, now) {
		return dropf(dropUnknownLease, "%v does not hold %v", req.mac, req.requestedIP)
	}
	h.log.Warn("DHCP decline: address in use by someone else", "mac", req.mac.String(), "addr", req.requestedIP,
		"unused_for", declineHold)
	return nil
}

// leaseReply builds an OFFER or ACK of addr with the network settings and
// whatever the client's firmware should boot.
func (h *dhcpHandler) leaseReply(req *request, t dhcpv4.MessageType, addr net.IP) *dhcpv4.DHCPv4 {
	m := newReply(req, t, h.cfg.ServerIP.AsSlice())
	m.YourIPAddr = addr
	m.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(h.cfg.Subnet.Bits(), 32)))
	if h.cfg.Router.IsValid() {
		m.UpdateOption(dhcpv4.OptRouter(h.cfg.Router.AsSlice()))
	}
	if len(h.cfg.DNS) > 0 {
		dns := make([]net.IP, len(h.cfg.DNS))
		for i, a := range h.cfg.DNS {
			dns[i] = a.AsSlice()
		}
		m.UpdateOption(dhcpv4.OptDNS(dns...))
	}
	m.UpdateOption(dhcpv4.OptIPAddressLeaseTime(h.cfg.LeaseTime))
	m.UpdateOption(dhcpv4.OptRenewTimeValue(h.cfg.LeaseTime / 2))
	m.UpdateOption(dhcpv4.OptRebindingTimeValue(h.cfg.LeaseTime / 8 * 7))
	if name := h.cfg.Hostname(req.mac); name != "" {
		m.UpdateOption(dhcpv4.OptHostName(name))
	}
	h.addBootOptions(m, req)
	return m
}

var (
	// Option 43 for replies that say "PXEClient": PXE ROMs read their
	// options from it, and discovery control (sub-option 6) = 8 tells
	// them to load the file named in this very reply instead of first
	// looking for PXE boot servers on port 4011.
	pxeVendorOptions = encapsulate(dhcpv4.Options{6: {8}})

	// Option 175 for iPXE: no-pxedhcp (176) = 1. iPXE takes any offer
	// that says "PXEClient" for a ProxyDHCP offer as well, and would
	// follow our ACK with a ProxyDHCP request to port 4011 that nobody
	// answers; it also waits up to 2 s for ProxyDHCP offers. We are the
	// only DHCP server on the link, so both are pure delay.
	ipxeOptions = encapsulate(dhcpv4.Options{176: {1}})
)

// encapsulate encodes sub-options as the value of an encapsulating option
// (43, 175). Options.ToBytes writes no End marker, which firmware parsers
// expect, so it is added here.
func encapsulate(sub dhcpv4.Options) []byte {
	return append(sub.ToBytes(), dhcpv4.OptionEnd.Code())
}

func (h *dhcpHandler) addBootOptions(m *dhcpv4.DHCPv4, req *request) {
	fw := identifyFirmware(req.msg)
	plan, ok := h.boot.planFor(fw)
	if !ok {
		h.log.Warn("no iPXE binary for arch", "mac", req.mac.String(), "arch", fw.archName(), "vendor_class", fw.vendorClass)
		return
	}
	if plan.nextServer.IsValid() {
		m.ServerIPAddr = plan.nextServer.AsSlice()
	}
	if plan.file != "" {
		// Both places: old PXE ROMs read only the BOOTP file field,
		// newer firmware prefers option 67.
		m.BootFileName = plan.file
		m.UpdateOption(dhcpv4.OptBootFileName(plan.file))
	}
	if plan.vendorClass != "" {
		m.UpdateOption(dhcpv4.OptClassIdentifier(plan.vendorClass))
	}
	if plan.vendorClass == classPXE {
		m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, pxeVendorOptions))
	}
	if plan.ipxe {
		// 175 is the Etherboot option space, which iPXE inherited.
		m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionEtherboot, ipxeOptions))
	}
}

// newReply starts a reply to req with what every server message carries.
// Address fields left nil go out as 0.0.0.0, as RFC 2131 table 3 wants for
// all but yiaddr, siaddr and an ACK's ciaddr.
func newReply(req *request, t dhcpv4.MessageType, serverID net.IP) *dhcpv4.DHCPv4 {
	m := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        req.msg.HWType,
		TransactionID: req.msg.TransactionID,
		Flags:         req.msg.Flags,
		ClientHWAddr:  req.msg.ClientHWAddr,
		Options:       dhcpv4.Options{},
	}
	m.UpdateOption(dhcpv4.OptMessageType(t))
	m.UpdateOption(dhcpv4.OptServerIdentifier(serverID))
	if id, ok := req.msg.Options[dhcpv4.OptionClientIdentifier.Code()]; ok {
		// RFC 6842: a client that named itself in option 61 matches
		// replies by it.
		m.UpdateOption(dhcpv4.OptClientIdentifier(id))
	}
	return m
}

// destination is where a reply to req goes.
//
// A client with an address (ciaddr: renewing) gets it by unicast. One without
// gets a broadcast: RFC 2131 4.1 would unicast to yiaddr when the broadcast
// flag is clear, but that needs an ARP entry for an address the client does
// not answer ARP for yet, which a UDP socket cannot add. NAKs are always
// broadcast: the client's address is in doubt. Relayed requests (giaddr) are
// dropped before this; answering them means sending to giaddr:67 here.
func destination(req *request, reply *dhcpv4.DHCPv4) *net.UDPAddr {
	if req.clientIP.IsValid() && reply.MessageType() != dhcpv4.MessageTypeNak {
		return &net.UDPAddr{IP: req.clientIP.AsSlice(), Port: dhcpv4.ClientPort}
	}
	return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
}
