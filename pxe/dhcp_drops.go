package pxe

import (
	"context"
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
	dropNotNetboot                           // proxy mode: an operating system's client, not netboot firmware
	dropLeaseTraffic                         // proxy mode: a REQUEST, RELEASE, DECLINE or INFORM on port 67, the address server's business
	dropNoIPXEBinary                         // proxy mode: netboot firmware of an architecture we have no iPXE build for
	dropNoClientAddress                      // port 4011: neither ciaddr nor a source address to answer to
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
	dropNotNetboot:         "not-netboot-firmware",
	dropLeaseTraffic:       "lease-traffic",
	dropNoIPXEBinary:       "no-ipxe-binary",
	dropNoClientAddress:    "no-client-address",
}

func (r dropReason) String() string { return dropReasonNames[r] }

// level is how loudly a drop is logged: broken packets, an exhausted range
// and relays we have no subnet for point at something to fix, a failing
// store at something broken; the rest is ordinary traffic on a shared
// segment, or on the host's other links.
func (r dropReason) level() slog.Level {
	switch r {
	case dropUnsupportedType, dropOtherServer, dropUnknownLease, dropWrongInterface, dropForeignAddress,
		dropNotNetboot, dropLeaseTraffic:
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

// record counts d and logs it, at its reason's level.
func (d *drop) record(c *dhcpCounters, log *slog.Logger, from arrival) {
	c.drops[d.reason].Add(1)
	log.Log(context.Background(), d.reason.level(), "dropped DHCP packet",
		"reason", d.reason.String(), "detail", d.detail, "peer", from.peer.String())
}
