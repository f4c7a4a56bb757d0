package pxe

import (
	"net"
	"slices"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// This file is what the server does for each kind of client message. The
// caller holds the client's lock (dhcpHandler.clients).

func (h *dhcpHandler) discover(req *request, n *network, now time.Time) (*dhcpv4.DHCPv4, *drop) {
	addr, err := h.leases.offer(string(req.mac), n, req.requestedIP, now)
	if err != nil {
		return nil, dropf(dropRangeExhausted, "%v (%v) for %v", err, n.prefix, req.mac)
	}
	h.stats.offers.Add(1)
	h.log.Debug("DHCP offer", "mac", req.mac.String(), "addr", addr)
	return h.leaseReply(req, n, dhcpv4.MessageTypeOffer, addr), nil
}

// request grants or refuses a lease. A granted lease is saved before the ACK
// is built: a client must never hold an address that a restarted server
// would hand to someone else.
func (h *dhcpHandler) request(req *request, n *network, now time.Time) (*dhcpv4.DHCPv4, *drop) {
	// SELECTING and INIT-REBOOT clients name the address in option 50,
	// RENEWING and REBINDING ones in ciaddr.
	addr := req.requestedIP
	if !addr.IsValid() {
		addr = req.clientIP
	}
	if !addr.IsValid() {
		return nil, dropf(dropNoRequestedAddress, "from %v", req.mac)
	}
	expiry, save, err := h.leases.ack(string(req.mac), n, addr, now)
	if err != nil {
		h.stats.naks.Add(1)
		h.log.Info("DHCP nak", "mac", req.mac.String(), "addr", addr, "why", err)
		return h.nak(req, err), nil
	}
	if save {
		l := Lease{MAC: slices.Clone(req.mac), IP: addr, Hostname: h.hostname(req.mac), Expiry: expiry}
		if err := h.saveLease(l); err != nil {
			h.leases.unsaved(string(req.mac))
			return nil, dropf(dropLeaseStore, "saving the lease of %v to %v: %v", addr, req.mac, err)
		}
	}
	h.stats.acks.Add(1)
	h.log.Info("DHCP lease", "mac", req.mac.String(), "addr", addr, "lease", h.cfg.LeaseTime)
	ack := h.leaseReply(req, n, dhcpv4.MessageTypeAck, addr)
	ack.ClientIPAddr = req.msg.ClientIPAddr // RFC 2131 table 3: an ACK echoes ciaddr
	return ack, nil
}

func (h *dhcpHandler) release(req *request, now time.Time) *drop {
	if !h.leases.release(string(req.mac), req.clientIP, now) {
		return dropf(dropUnknownLease, "%v does not hold %v", req.mac, req.clientIP)
	}
	h.stats.releases.Add(1)
	h.log.Info("DHCP release", "mac", req.mac.String(), "addr", req.clientIP)
	if err := h.deleteLease(req.mac); err != nil {
		return dropf(dropLeaseStore, "deleting the released lease of %v: %v", req.mac, err)
	}
	return nil
}

func (h *dhcpHandler) decline(req *request, now time.Time) *drop {
	addr := req.requestedIP
	until, ok := h.leases.decline(string(req.mac), addr, now)
	if !ok {
		return dropf(dropUnknownLease, "%v does not hold %v", req.mac, addr)
	}
	h.stats.declines.Add(1)
	h.log.Warn("DHCP decline: address in use by someone else", "mac", req.mac.String(), "addr", addr,
		"unused_for", declineHold)
	if err := h.saveDecline(req.mac, declinedLease(addr, until)); err != nil {
		return dropf(dropLeaseStore, "recording the decline of %v: %v", addr, err)
	}
	return nil
}

// inform answers a client that has an address and wants the rest (RFC 2131
// §4.3.5): an ACK with its subnet's options but no address and no lease
// time. No lease changes.
func (h *dhcpHandler) inform(req *request, n *network) (*dhcpv4.DHCPv4, *drop) {
	if req.clientIP.IsValid() && !n.prefix.Contains(req.clientIP) {
		return nil, dropf(dropForeignAddress, "INFORM from %v, outside %v", req.clientIP, n.prefix)
	}
	h.stats.informs.Add(1)
	h.log.Debug("DHCP inform", "mac", req.mac.String(), "addr", req.clientIP)
	ack := newReply(req, dhcpv4.MessageTypeAck, h.cfg.ServerIP)
	h.addNetworkOptions(ack, n)
	ack.ClientIPAddr = req.msg.ClientIPAddr
	return ack, nil
}

// hostname is the name a client is given: its reservation's, else
// Config.Hostname's.
func (h *dhcpHandler) hostname(mac net.HardwareAddr) string {
	if name := h.reserved.hostname(string(mac)); name != "" {
		return name
	}
	return h.cfg.Hostname(mac)
}
