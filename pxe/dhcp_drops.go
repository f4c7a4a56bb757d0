package pxe

import (
	"fmt"
	"log/slog"
)

// dropReason says why a packet got no reply. Its String is the key in
// DHCPStats.Drops and the "reason" attribute of the log line.
type dropReason uint8

const (
	dropOversized          dropReason = iota // larger than maxPacketLen
	dropTruncated                            // shorter than the BOOTP header and magic cookie
	dropNotRequest                           // op is BOOTREPLY: a server's message
	dropBadHardware                          // not Ethernet, or MAC not 6 bytes, all zero or multicast
	dropBadCookie                            // no DHCP magic cookie
	dropBadOptions                           // options overrun the packet, lack End, or a field we use is malformed
	dropNoMessageType                        // no option 53: BOOTP, not DHCP
	dropUnsupportedType                      // a server's message type
	dropWrongInterface                       // a client talking to us directly, but not on Config.Interface
	dropRelaySubnetUnknown                   // giaddr in none of our subnets
	dropOtherServer                          // option 54 names another server
	dropNoRequestedAddress                   // REQUEST with neither option 50 nor ciaddr
	dropRangeExhausted                       // no free address to offer
	dropUnknownLease                         // RELEASE or DECLINE of an address the client does not hold
	dropForeignAddress                       // INFORM from an address outside the subnet it came from
	dropLeaseStore                           // the LeaseStore failed: no ACK without a durable lease
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
	dropWrongInterface:     "wrong-interface",
	dropRelaySubnetUnknown: "relay-subnet-unknown",
	dropOtherServer:        "other-server",
	dropNoRequestedAddress: "no-requested-address",
	dropRangeExhausted:     "range-exhausted",
	dropUnknownLease:       "unknown-lease",
	dropForeignAddress:     "foreign-client-address",
	dropLeaseStore:         "lease-store-failed",
}

func (r dropReason) String() string { return dropReasonNames[r] }

// level is how loudly a drop is logged: broken packets, an exhausted range
// and relays we have no subnet for point at something to fix, a failing
// store at something broken; the rest is ordinary traffic on a shared
// segment, or on the host's other links.
func (r dropReason) level() slog.Level {
	switch r {
	case dropUnsupportedType, dropOtherServer, dropUnknownLease, dropWrongInterface, dropForeignAddress:
		return slog.LevelDebug
	case dropLeaseStore:
		return slog.LevelError
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
