package pxe

import (
	"bytes"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// request is a DHCP message from a client, checked and reduced to what the
// server acts on.
type request struct {
	msg         *dhcpv4.DHCPv4
	msgType     dhcpv4.MessageType
	mac         net.HardwareAddr
	clientIP    netip.Addr // ciaddr; invalid when the client has no address yet
	relay       netip.Addr // giaddr: the relay agent that forwarded it; invalid when it came directly
	requestedIP netip.Addr // option 50; invalid when absent
	serverID    netip.Addr // option 54; invalid when absent
}

const (
	bootpHeaderLen = 236 // op .. file: the fixed part before the magic cookie
	// maxPacketLen bounds what we accept. A DHCP message fits one Ethernet
	// frame; firmware sends at most 576 bytes unless it advertises more.
	maxPacketLen = 1500
)

var magicCookie = []byte{99, 130, 83, 99}

// decodeRequest parses raw as a DHCP request from a client, directly or
// through a relay agent, or says why it is not one.
func decodeRequest(raw []byte) (*request, *drop) {
	// The fixed header is checked by hand first: dhcpv4.FromBytes reports
	// every problem as one parse error, and these deserve their own reason.
	switch {
	case len(raw) > maxPacketLen:
		return nil, dropf(dropOversized, "%d bytes", len(raw))
	case len(raw) < bootpHeaderLen+len(magicCookie):
		return nil, dropf(dropTruncated, "%d bytes", len(raw))
	case raw[0] != byte(dhcpv4.OpcodeBootRequest):
		return nil, dropf(dropNotRequest, "op %d", raw[0])
	case raw[1] != byte(iana.HWTypeEthernet) || raw[2] != 6:
		return nil, dropf(dropBadHardware, "hardware type %d, address length %d", raw[1], raw[2])
	case !bytes.Equal(raw[bootpHeaderLen:bootpHeaderLen+len(magicCookie)], magicCookie):
		return nil, dropf(dropBadCookie, "% x", raw[bootpHeaderLen:bootpHeaderLen+len(magicCookie)])
	}
	msg, err := dhcpv4.FromBytes(raw)
	if err != nil {
		return nil, dropf(dropBadOptions, "%v", err)
	}
	if !isClientMAC(msg.ClientHWAddr) {
		return nil, dropf(dropBadHardware, "%v is all zero or multicast", msg.ClientHWAddr)
	}
	req := &request{msg: msg, msgType: msg.MessageType(), mac: msg.ClientHWAddr}
	if req.msgType == dhcpv4.MessageTypeNone {
		// Plain BOOTP: we only speak DHCP.
		return nil, dropf(dropNoMessageType, "option 53 missing or malformed")
	}
	req.clientIP = headerAddr(msg.ClientIPAddr)
	req.relay = headerAddr(msg.GatewayIPAddr)
	// Replies echo these two; a single option holds at most 255 bytes,
	// and longer (RFC 3396 concatenation) could push the reply past a
	// frame.
	for _, echoed := range []dhcpv4.OptionCode{dhcpv4.OptionClientIdentifier, dhcpv4.OptionRelayAgentInformation} {
		if v := msg.Options.Get(echoed); len(v) > 255 {
			return nil, dropf(dropBadOptions, "option %d is %d bytes long", echoed.Code(), len(v))
		}
	}
	var ok bool
	if req.requestedIP, ok = ipv4Option(msg, dhcpv4.OptionRequestedIPAddress); !ok {
		return nil, dropf(dropBadOptions, "option 50 (requested address) is not 4 bytes")
	}
	if req.serverID, ok = ipv4Option(msg, dhcpv4.OptionServerIdentifier); !ok {
		return nil, dropf(dropBadOptions, "option 54 (server identifier) is not 4 bytes")
	}
	return req, nil
}

// ipv4Option reads an option holding one IPv4 address: the invalid Addr if
// the option is absent, ok false if it is there but malformed.
func ipv4Option(msg *dhcpv4.DHCPv4, code dhcpv4.OptionCode) (addr netip.Addr, ok bool) {
	// Indexed directly: Options.Get cannot tell absent from zero-length.
	v, present := msg.Options[code.Code()]
	if !present {
		return netip.Addr{}, true
	}
	if len(v) != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(v)), true
}

// headerAddr is an address field of the BOOTP header: invalid when zero.
func headerAddr(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}
