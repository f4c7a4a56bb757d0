package pxe

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

const (
	rsHeaderLen = 8 // type, code, checksum, reserved: what precedes the options
	ndpOptBlock = 8 // NDP option lengths count 8-byte blocks

	ndpOptSourceLinkLayer = 1
	ndpHopLimit           = 255 // RFC 4861: NDP is sent, and accepted, with this hop limit only
)

// checkSolicitation validates a Router Solicitation the way RFC 4861
// §6.1.1 asks a router to; hopLimit is the received IPv6 hop limit (-1 if
// unknown) and src its source. The ICMPv6 checksum, which §6.1.1 also
// wants checked, the kernel has checked already: it drops raw ICMPv6
// packets whose checksum is wrong.
func checkSolicitation(msg []byte, hopLimit int, src netip.Addr) *raDrop {
	// A hop limit of 255 proves the packet was not forwarded: it comes
	// from this link.
	if hopLimit != ndpHopLimit {
		return raDropf(raDropBadHopLimit, "hop limit %d", hopLimit)
	}
	if len(msg) < rsHeaderLen {
		return raDropf(raDropTruncated, "%d bytes", len(msg))
	}
	if code := msg[1]; code != 0 {
		return raDropf(raDropBadCode, "code %d", code)
	}
	if !src.Is6() || src.IsMulticast() {
		return raDropf(raDropBadSource, "source %v", src)
	}
	for opts := msg[rsHeaderLen:]; len(opts) > 0; {
		if len(opts) < 2 || opts[1] == 0 || len(opts) < int(opts[1])*ndpOptBlock {
			return raDropf(raDropBadOptions, "option at byte %d: % x", len(msg)-len(opts), opts[:min(len(opts), 2)])
		}
		// A host without an address yet cannot be answered by unicast,
		// so it must not name a link-layer address to send to.
		if opts[0] == ndpOptSourceLinkLayer && src.IsUnspecified() {
			return raDropf(raDropBadOptions, "source link-layer address option from the unspecified address")
		}
		opts = opts[int(opts[1])*ndpOptBlock:]
	}
	return nil
}

// routerAdvertisement is a Router Advertisement from a host that is no
// router: router lifetime 0 (use no one here as default router), no
// Prefix Information (make up no address), M=O=0 (no DHCPv6 either) and
// every other parameter 0, "unspecified", so that receivers keep their
// own. Its one option gives our link-layer address (mac) so that the
// receiver need not ask for it; it is left out if mac is empty.
//
// The checksum is left 0: on a raw ICMPv6 socket the kernel always
// computes it (RFC 3542 §3.1), over the addresses it actually sends with.
func routerAdvertisement(mac net.HardwareAddr) []byte {
	body := []byte{
		0,    // cur hop limit: unspecified
		0,    // M, O and the rest of the flags: clear
		0, 0, // router lifetime: not a default router
		0, 0, 0, 0, // reachable time: unspecified
		0, 0, 0, 0, // retrans timer: unspecified
	}
	if len(mac) > 0 {
		blocks := (2 + len(mac) + ndpOptBlock - 1) / ndpOptBlock
		opt := make([]byte, blocks*ndpOptBlock) // zero padded
		opt[0], opt[1] = ndpOptSourceLinkLayer, byte(blocks)
		copy(opt[2:], mac)
		body = append(body, opt...)
	}
	m := icmp.Message{Type: ipv6.ICMPTypeRouterAdvertisement, Body: &icmp.RawBody{Data: body}}
	b, err := m.Marshal(nil)
	if err != nil {
		panic(fmt.Sprintf("pxe: marshal router advertisement: %v", err)) // only for a wrong Type
	}
	return b
}

// raDropReason says why a Router Solicitation got no answer. Its String
// is the key in RAStats.Drops and the "reason" attribute of the log line.
type raDropReason uint8

const (
	raDropBadHopLimit     raDropReason = iota // not 255: forwarded, or forged off-link
	raDropTruncated                           // shorter than 8 bytes
	raDropBadCode                             // ICMP code not 0
	raDropBadSource                           // multicast, or not IPv6
	raDropBadOptions                          // an option of length 0 or past the end; or SLLA from ::
	raDropOtherInterface                      // arrived on an interface other than Config.Interface
	raDropRateLimited                         // this source was answered less than raInterval ago
	raDropNoLinkLocal                         // we have no usable link-local address to answer from
	raDropOwnSolicitation                     // sent by this host, looped back to us
	raDropSendFailed                          // the kernel refused to send the answer
	numRADropReasons
)

var raDropReasonNames = [numRADropReasons]string{
	raDropBadHopLimit:     "bad-hop-limit",
	raDropTruncated:       "truncated",
	raDropBadCode:         "bad-code",
	raDropBadSource:       "bad-source",
	raDropBadOptions:      "bad-options",
	raDropOtherInterface:  "other-interface",
	raDropRateLimited:     "rate-limited",
	raDropNoLinkLocal:     "no-link-local",
	raDropOwnSolicitation: "own-solicitation",
	raDropSendFailed:      "send-failed",
}

func (r raDropReason) String() string { return raDropReasonNames[r] }

// An raDrop is a Router Solicitation we do not answer, and why.
type raDrop struct {
	reason raDropReason
	detail string // for humans: the odd value seen
}

func raDropf(reason raDropReason, format string, args ...any) *raDrop {
	return &raDrop{reason: reason, detail: fmt.Sprintf(format, args...)}
}
