package pxe

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv6"
)

func TestRouterAdvertisementSaysNoRouterHere(t *testing.T) {
	mac := mustMAC("52:54:00:12:34:56")
	got := routerAdvertisement(mac)
	want := []byte{
		134, 0, 0, 0, // Router Advertisement, code 0, checksum left to the kernel
		0, 0, 0, 0, // cur hop limit unspecified; M=O=0; router lifetime 0
		0, 0, 0, 0, // reachable time unspecified
		0, 0, 0, 0, // retrans timer unspecified
		1, 1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // source link-layer address, 1 block
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Router Advertisement\n% x, want\n% x", got, want)
	}
	checkNoRouterHere(t, got, mac)
}

func TestRouterAdvertisementPadsLongLinkLayerAddresses(t *testing.T) {
	infiniband := make(net.HardwareAddr, 20)
	for i := range infiniband {
		infiniband[i] = byte(i + 1)
	}
	got := routerAdvertisement(infiniband)
	if len(got) != 16+24 || got[16] != 1 || got[17] != 3 || !bytes.Equal(got[18:38], infiniband) || got[38] != 0 || got[39] != 0 {
		t.Errorf("Router Advertisement for a 20-byte address: % x; want its option in 3 blocks, zero padded", got)
	}
	checkNoRouterHere(t, got, infiniband)
	if got := routerAdvertisement(nil); len(got) != 16 {
		t.Errorf("Router Advertisement without a link-layer address: % x; want no option", got)
	}
}

// checkNoRouterHere checks that msg is a Router Advertisement that makes
// no one use its sender as router or make up an address: router lifetime
// 0, M=O=0, no Prefix Information, and the only option the sender's
// link-layer address mac.
func checkNoRouterHere(t *testing.T, msg []byte, mac net.HardwareAddr) {
	t.Helper()
	if len(msg) < 16 || msg[0] != 134 || msg[1] != 0 {
		t.Fatalf("% x is not a Router Advertisement (type 134, code 0, 16 bytes or more)", msg)
	}
	if curHopLimit, flags := msg[4], msg[5]; curHopLimit != 0 || flags != 0 {
		t.Errorf("cur hop limit %d, flags %08b; want 0 and none (M=O=0: no DHCPv6)", curHopLimit, flags)
	}
	lifetime, reachable, retrans := binary.BigEndian.Uint16(msg[6:]), binary.BigEndian.Uint32(msg[8:]), binary.BigEndian.Uint32(msg[12:])
	if lifetime != 0 || reachable != 0 || retrans != 0 {
		t.Errorf("router lifetime %d, reachable time %d, retrans timer %d; want all 0", lifetime, reachable, retrans)
	}
	var sourceLinkLayer []net.HardwareAddr
	for opts := msg[16:]; len(opts) > 0; {
		if len(opts) < 8 || opts[1] == 0 || len(opts) < int(opts[1])*8 {
			t.Fatalf("malformed options % x", opts)
		}
		switch opt := opts[:int(opts[1])*8]; opt[0] {
		case 1:
			sourceLinkLayer = append(sourceLinkLayer, net.HardwareAddr(opt[2:2+len(mac)]))
		case 3:
			t.Errorf("Prefix Information option % x: hosts would make up addresses", opt)
		default:
			t.Errorf("unexpected option % x", opt)
		}
		opts = opts[int(opts[1])*8:]
	}
	if len(sourceLinkLayer) != 1 || !bytes.Equal(sourceLinkLayer[0], mac) {
		t.Errorf("source link-layer address options %v, want just %v", sourceLinkLayer, mac)
	}
}

func TestCheckSolicitation(t *testing.T) {
	linkLocal := netip.MustParseAddr("fe80::5054:ff:fe12:3456")
	unspecified := netip.IPv6Unspecified()
	plain := []byte{133, 0, 0, 0, 0, 0, 0, 0}
	withSLLA := append(bytes.Clone(plain), 1, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56)
	tests := []struct {
		name     string
		msg      []byte
		hopLimit int
		src      netip.Addr
		want     string // drop reason; "" to answer
	}{
		{"as iPXE sends it", withSLLA, 255, linkLocal, ""},
		{"without options", plain, 255, linkLocal, ""},
		{"from a host without an address yet", plain, 255, unspecified, ""},
		{"unknown option skipped", append(bytes.Clone(withSLLA), 99, 1, 0, 0, 0, 0, 0, 0), 255, linkLocal, ""},
		{"forwarded: hop limit 64", withSLLA, 64, linkLocal, "bad-hop-limit"},
		{"hop limit unknown", withSLLA, -1, linkLocal, "bad-hop-limit"},
		{"7 bytes", plain[:7], 255, linkLocal, "truncated"},
		{"code 1", []byte{133, 1, 0, 0, 0, 0, 0, 0}, 255, linkLocal, "bad-code"},
		{"multicast source", plain, 255, netip.MustParseAddr("ff02::1"), "bad-source"},
		{"no source", plain, 255, netip.Addr{}, "bad-source"},
		{"option of length 0", append(bytes.Clone(plain), 1, 0, 0, 0, 0, 0, 0, 0), 255, linkLocal, "bad-options"},
		{"option past the end", append(bytes.Clone(plain), 1, 2, 0, 0, 0, 0, 0, 0), 255, linkLocal, "bad-options"},
		{"one stray byte", append(bytes.Clone(plain), 1), 255, linkLocal, "bad-options"},
		{"link-layer address from ::", withSLLA, 255, unspecified, "bad-options"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if d := checkSolicitation(tc.msg, tc.hopLimit, tc.src); d != nil {
				got = d.reason.String()
			}
			if got != tc.want {
				t.Errorf("checkSolicitation = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSourceLimiterAllowsOneAnswerPerSourcePerInterval(t *testing.T) {
	l := newSourceLimiter(time.Second, 2)
	a, b, c := netip.MustParseAddr("fe80::a"), netip.MustParseAddr("fe80::b"), netip.MustParseAddr("fe80::c")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	steps := []struct {
		after time.Duration
		src   netip.Addr
		want  bool
	}{
		{0, a, true},
		{100 * time.Millisecond, a, false},  // within the interval
		{200 * time.Millisecond, b, true},   // another source
		{300 * time.Millisecond, c, false},  // full: 2 sources remembered, both fresh
		{1000 * time.Millisecond, a, true},  // a's interval is over
		{1300 * time.Millisecond, c, false}, // still full: b is swept out only at the next sweep
		{2000 * time.Millisecond, c, true},  // the next sweep, a second after the last
		{2100 * time.Millisecond, c, false},
		{2200 * time.Millisecond, b, true}, // room again: a was swept out too
	}
	for _, s := range steps {
		if got := l.allow(s.src, t0.Add(s.after)); got != s.want {
			t.Errorf("+%v %v: allow = %v, want %v", s.after, s.src, got, s.want)
		}
	}
}

func TestSourceLimiterForgetsAsItGoes(t *testing.T) {
	l := newSourceLimiter(time.Second, raMaxSources)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 10_000 {
		now = now.Add(time.Millisecond)
		src := netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 14: byte(i >> 8), 15: byte(i)})
		l.allow(src, now)
		if len(l.answered) > raMaxSources {
			t.Fatalf("remembers %d sources, more than %d", len(l.answered), raMaxSources)
		}
	}
	// One source a millisecond: at most about two intervals' worth.
	if n := len(l.answered); n > 2000 {
		t.Errorf("remembers %d sources after 10 s of 1000 new sources a second; want no more than 2 s worth", n)
	}
}

// newTestRAResponder is a responder on a made-up interface, with no
// socket: enough for respond, and for handle as long as linkLocal fails.
func newTestRAResponder(t *testing.T) (*raResponder, *testServer) {
	s := newTestServer(t, nil)
	r := &raResponder{
		iface: &net.Interface{Index: 7, Name: "rfpxe-test0", HardwareAddr: mustMAC("02:00:00:00:00:01")},
		limit: newSourceLimiter(raInterval, raMaxSources),
		stats: &s.raStats,
		log:   s.cfg.Logger,
		now:   s.clock.Now,
	}
	return r, s
}

func TestRespondAnswersTheSolicitor(t *testing.T) {
	r, s := newTestRAResponder(t)
	rs := []byte{133, 0, 0, 0, 0, 0, 0, 0}
	node := netip.MustParseAddr("fe80::5054:ff:fe12:3456")
	respond := func(hopLimit, ifIndex int, src netip.Addr) string {
		to, d := r.respond(rs, hopLimit, ifIndex, src)
		if d != nil {
			return d.reason.String()
		}
		return to.String()
	}
	if got := respond(255, 7, node); got != node.String() {
		t.Errorf("a node soliciting from its link-local address: %s, want the answer sent there", got)
	}
	if got := respond(255, 7, node); got != "rate-limited" {
		t.Errorf("the same node again at once: %s, want rate-limited", got)
	}
	s.clock.Advance(raInterval)
	if got := respond(255, 7, node); got != node.String() {
		t.Errorf("the same node a second later: %s, want the answer sent to it", got)
	}
	if got := respond(255, 7, netip.IPv6Unspecified()); got != "ff02::1" {
		t.Errorf("a node without an address: %s, want the answer sent to all nodes", got)
	}
	if got := respond(255, 7, netip.MustParseAddr("2001:db8::1")); got != "ff02::1" {
		t.Errorf("a node soliciting from a global address: %s, want the answer sent to all nodes", got)
	}
	if got := respond(255, 8, netip.MustParseAddr("fe80::2")); got != "other-interface" {
		t.Errorf("a solicitation from another interface: %s, want other-interface", got)
	}
	if got := respond(64, 7, netip.MustParseAddr("fe80::3")); got != "bad-hop-limit" {
		t.Errorf("hop limit 64: %s, want bad-hop-limit", got)
	}
}

func TestHandleWithoutLinkLocalWarnsOnce(t *testing.T) {
	r, s := newTestRAResponder(t)
	r.linkLocal = func(ifi *net.Interface) (netip.Addr, error) {
		return netip.Addr{}, &net.AddrError{Err: "no link-local address", Addr: ifi.Name}
	}
	rs := []byte{133, 0, 0, 0, 0, 0, 0, 0}
	onOurLink := &ipv6.ControlMessage{HopLimit: 255, IfIndex: 7}
	for _, src := range []string{"fe80::1", "fe80::2"} {
		r.handle(rs, onOurLink, &net.IPAddr{IP: net.ParseIP(src)})
	}
	r.handle([]byte{135, 0, 0, 0}, onOurLink, &net.IPAddr{IP: net.ParseIP("fe80::3")}) // not an RS: ignored

	stats := s.Stats().RA
	if stats.Solicitations != 2 || stats.Advertisements != 0 || stats.Drops["no-link-local"] != 2 || len(stats.Drops) != 1 {
		t.Errorf("RA stats %+v, want 2 solicitations, both dropped as no-link-local", stats)
	}
	warnings := strings.Count(s.logs.String(), `"level":"WARN"`)
	if warnings != 1 || !strings.Contains(s.logs.String(), "~15 s") {
		t.Errorf("%d warnings, want 1 that says what it costs:\n%s", warnings, s.logs)
	}
	if s.logs.find(t, "router solicitation not answered", map[string]any{"reason": "no-link-local", "peer": "fe80::2"}) == nil {
		t.Errorf("no debug line for the second drop:\n%s", s.logs)
	}
}

func TestRunWithoutIPv6OnlyWarns(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		c.Interface = "rfpxe-none0"
		c.AnswerRouterSolicitations = true
	})
	if r := s.newRAResponder(); r != nil {
		t.Fatal("a responder on an interface without IPv6")
	}
	if e := s.logs.find(t, "not answering IPv6 router solicitations: iPXE will wait ~15 s per boot for a router",
		map[string]any{"level": "WARN", "interface": "rfpxe-none0"}); e == nil {
		t.Errorf("no warning:\n%s", s.logs)
	}
}

func TestHandleIgnoresOurOwnSolicitations(t *testing.T) {
	r, s := newTestRAResponder(t)
	ours := netip.MustParseAddr("fe80::1")
	r.linkLocal = func(*net.Interface) (netip.Addr, error) { return ours, nil }
	r.handle([]byte{133, 0, 0, 0, 0, 0, 0, 0}, &ipv6.ControlMessage{HopLimit: 255, IfIndex: 7}, &net.IPAddr{IP: ours.AsSlice()})
	if stats := s.Stats().RA; stats.Drops["own-solicitation"] != 1 || stats.Advertisements != 0 {
		t.Errorf("RA stats %+v, want our own solicitation dropped", stats)
	}
}
