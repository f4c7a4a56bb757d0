package pxe

import (
	"bytes"
	"fmt"
	"log/slog"
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

// decodeRequest parses raw as a DHCP request from a client on our link, or
// says why it is not one.
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
	if bytes.Equal(msg.ClientHWAddr, make([]byte, 6)) {
		return nil, dropf(dropBadHardware, "all-zero MAC")
	}
	if !isZero(msg.GatewayIPAddr) {
		// Relay agents are not supported yet: their clients live on
		// other subnets than our range, and replies would go to giaddr.
		return nil, dropf(dropRelayed, "giaddr %v", msg.GatewayIPAddr)
	}
	req := &request{msg: msg, msgType: msg.MessageType(), mac: msg.ClientHWAddr}
	if req.msgType == dhcpv4.MessageTypeNone {
		// Plain BOOTP: we only speak DHCP.
		return nil, dropf(dropNoMessageType, "option 53 missing or malformed")
	}
	if !isZero(msg.ClientIPAddr) {
		req.clientIP, _ = netip.AddrFromSlice(msg.ClientIPAddr.To4())
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

func isZero(ip net.IP) bool { return ip == nil || ip.Equal(net.IPv4zero) }

// dropReason says why a packet got no reply. Its String is the key in
// DHCPStats.Drops and the "reason" attribute of the log line.
type dropReason uint8

const (
	dropOversized          dropReason = iota // larger than maxPacketLen
	dropTruncated                            // shorter than the BOOTP header and magic cookie
	dropNotRequest                           // op is BOOTREPLY: a server's message
	dropBadHardware                          // not Ethernet, or MAC not 6 bytes, or all zero
	dropBadCookie                            // no DHCP magic cookie
	dropBadOptions                           // options overrun the packet, lack End, or a field we use is malformed
	dropNoMessageType                        // no option 53: BOOTP, not DHCP
	dropUnsupportedType                      // a server's message type, or INFORM
	dropRelayed                              // giaddr set: relay agents are not supported yet
	dropOtherServer                          // option 54 names another server
	dropNoRequestedAddress                   // REQUEST with neither option 50 nor ciaddr
	dropRangeExhausted                       // no free address to offer
	dropUnknownLease                         // RELEASE or DECLINE of an address the client does not hold
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	dropOversized:          "oversized",
	dropTruncated:          "truncated",
	dropNotRequest:         "not-a-request",
	dropBadHardware:        "bad-hardware-address",
	dropBadCookie:          "bad-magic-cookie",
	dropBadOptions:         "malformed-options",
	dropNoMessageType:      "no-message-type",
	dropUnsupportedType:    "unsupported-message-type",
	dropRelayed:            "relayed",
	dropOtherServer:        "other-server",
	dropNoRequestedAddress: "no-requested-address",
	dropRangeExhausted:     "range-exhausted",
	dropUnknownLease:       "unknown-lease",
}

func (r dropReason) String() string { return dropReasonNames[r] }

// level is how loudly a drop is logged: broken packets, an exhausted range
// and relayed requests point at something to fix; the rest is ordinary
// traffic on a shared segment.
func (r dropReason) level() slog.Level {
	switch r {
	case dropUnsupportedType, dropOtherServer, dropUnknownLease:
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

// A drop is a packet the server does not answer, and why.
type drop struct {
	reason dropReason
	detail string // for humans: the odd value seen
}

func dropf(reason dropReason, format string, args ...any) *drop {
	return &drop{reason: reason, detail: fmt.Sprintf(format, args...)}
}
