package pxe

import (
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// leaseReply builds an OFFER or ACK of addr in n with the network settings
// and whatever the client's firmware should boot.
func (h *dhcpHandler) leaseReply(req *request, n *network, t dhcpv4.MessageType, addr netip.Addr) *dhcpv4.DHCPv4 {
	m := newReply(req, t, h.cfg.ServerIP)
	m.YourIPAddr = addr.AsSlice()
	h.addNetworkOptions(m, n)
	m.UpdateOption(dhcpv4.OptIPAddressLeaseTime(h.cfg.LeaseTime))
	m.UpdateOption(dhcpv4.OptRenewTimeValue(h.cfg.LeaseTime / 2))
	m.UpdateOption(dhcpv4.OptRebindingTimeValue(h.cfg.LeaseTime / 8 * 7))
	if name := h.hostname(req.mac); name != "" {
		m.UpdateOption(dhcpv4.OptHostName(name))
	}
	h.addBootOptions(m, req)
	return m
}

// addNetworkOptions adds what a host on n needs to use it: mask, router, DNS.
func (h *dhcpHandler) addNetworkOptions(m *dhcpv4.DHCPv4, n *network) {
	m.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(n.prefix.Bits(), 32)))
	if n.router.IsValid() {
		m.UpdateOption(dhcpv4.OptRouter(n.router.AsSlice()))
	}
	if len(h.cfg.DNS) > 0 {
		dns := make([]net.IP, len(h.cfg.DNS))
		for i, a := range h.cfg.DNS {
			dns[i] = a.AsSlice()
		}
		m.UpdateOption(dhcpv4.OptDNS(dns...))
	}
}

// nak refuses a REQUEST, saying why in option 56 for the client's log.
func (h *dhcpHandler) nak(req *request, why error) *dhcpv4.DHCPv4 {
	m := newReply(req, dhcpv4.MessageTypeNak, h.cfg.ServerIP)
	m.UpdateOption(dhcpv4.OptMessage(why.Error()))
	if req.relay.IsValid() {
		// RFC 2131 §4.1: "The server MUST set the broadcast bit in the
		// DHCPNAK, so that the relay agent will broadcast the DHCPNAK
		// to the client, because the client may not have a correct
		// network address or subnet mask".
		m.SetBroadcast()
	}
	return m
}

// newReply starts a reply to req with what every server message carries.
// Address fields left nil go out as 0.0.0.0, as RFC 2131 table 3 wants for
// all but yiaddr, siaddr, giaddr and an ACK's ciaddr. Hops stays 0.
func newReply(req *request, t dhcpv4.MessageType, serverID netip.Addr) *dhcpv4.DHCPv4 {
	m := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        req.msg.HWType,
		TransactionID: req.msg.TransactionID,
		Flags:         req.msg.Flags,
		GatewayIPAddr: req.msg.GatewayIPAddr, // the relay finds its client by it
		ClientHWAddr:  req.msg.ClientHWAddr,
		Options:       dhcpv4.Options{},
	}
	m.UpdateOption(dhcpv4.OptMessageType(t))
	m.UpdateOption(dhcpv4.OptServerIdentifier(serverID.AsSlice()))
	if id, ok := req.msg.Options[dhcpv4.OptionClientIdentifier.Code()]; ok {
		// RFC 6842: a client that named itself in option 61 matches
		// replies by it.
		m.UpdateOption(dhcpv4.OptClientIdentifier(id))
	}
	if info, ok := req.msg.Options[dhcpv4.OptionRelayAgentInformation.Code()]; ok {
		// RFC 3046 §2.2: the relay agent's circuit and remote IDs come
		// back, so that it knows which port the reply is for. Options
		// marshals option 82 last, as §2.1 wants.
		m.Options[dhcpv4.OptionRelayAgentInformation.Code()] = info
	}
	return m
}
