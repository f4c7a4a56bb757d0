package pxe

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// storeServer serves a range of three addresses, 10.77.0.100-102, keeping
// its leases in store, on clock: calling it again is a restart.
func storeServer(t *testing.T, store LeaseStore, clock *fakeClock, edit ...func(*Config)) *testServer {
	return newTestServerAt(t, clock, func(c *Config) {
		c.Ranges = []Range{{netip.MustParseAddr("10.77.0.100"), netip.MustParseAddr("10.77.0.102")}}
		c.Leases = store
		for _, e := range edit {
			e(c)
		}
	})
}

// lease runs DISCOVER and REQUEST for mac and returns the address ACKed.
func (s *testServer) lease(t *testing.T, mac string) string {
	t.Helper()
	addr, err := s.tryLease(t, mac)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// tryLease is lease for goroutines other than the test's, which must not
// call t.Fatal.
func (s *testServer) tryLease(t testing.TB, mac string) (string, error) {
	offer := s.exchange(t, message(t, dhcpv4.MessageTypeDiscover, mac))
	if offer == nil {
		return "", fmt.Errorf("%s's DISCOVER got no reply; log:\n%s", mac, s.logs)
	}
	addr := offer.msg.YourIPAddr.String()
	if out := s.request(t, mac, addr, "10.77.0.1"); out == nil || out.msg.MessageType() != dhcpv4.MessageTypeAck {
		return "", fmt.Errorf("%s's REQUEST for %s got %v, want ACK; log:\n%s", mac, addr, out, s.logs)
	}
	return addr, nil
}

func (s *testServer) declines(t *testing.T, mac, addr string) {
	t.Helper()
	decline := message(t, dhcpv4.MessageTypeDecline, mac,
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(addr))),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.77.0.1"))))
	if out := s.exchange(t, decline); out != nil {
		t.Fatalf("DECLINE got a reply: %v", out.msg.MessageType())
	}
}

// noOffer checks that a DISCOVER from mac goes unanswered.
func (s *testServer) noOffer(t *testing.T, mac string) {
	t.Helper()
	if out := s.exchange(t, message(t, dhcpv4.MessageTypeDiscover, mac)); out != nil {
		t.Errorf("%s was offered %v, want nothing", mac, out.msg.YourIPAddr)
	}
}

func TestLeasesSurviveARestart(t *testing.T) {
	store, clock := newMemLeaseStore(), &fakeClock{now: testEpoch}
	s := storeServer(t, store, clock)
	a := s.lease(t, "52:54:00:00:00:0a")
	b := s.lease(t, "52:54:00:00:00:0b")
	declined := s.lease(t, "52:54:00:00:00:0c")
	s.declines(t, "52:54:00:00:00:0c", declined)
	if _, ok := store.lease(mustMAC("52:54:00:00:00:0c")); ok {
		t.Error("the decliner's lease is still stored")
	}
	if l, ok := store.lease(declinedLease(addr(declined), time.Time{}).MAC); !ok || !l.Declined || l.IP != addr(declined) {
		t.Errorf("stored declined record %+v (%v), want one for %s", l, ok, declined)
	}

	clock.Advance(time.Minute)
	s = storeServer(t, store, clock)
	if got := s.discover(t, "52:54:00:00:00:0a").YourIPAddr.String(); got != a {
		t.Errorf("after a restart, a's DISCOVER was offered %s, want its %s", got, a)
	}
	// b's and a's addresses are leased, the third declined: nothing left.
	s.noOffer(t, "52:54:00:00:00:0d")
	out := s.request(t, "52:54:00:00:00:0d", b, "")
	if out == nil || out.msg.MessageType() != dhcpv4.MessageTypeNak {
		t.Errorf("a new client's INIT-REBOOT REQUEST for b's %s got %v, want NAK", b, out)
	}
	clock.Advance(declineHold)
	if got := s.discover(t, "52:54:00:00:00:0d").YourIPAddr.String(); got != declined {
		t.Errorf("after the decline hold, the new client got %s, want the declined %s back in use", got, declined)
	}
}

func TestExpiredLeaseStillBringsItsClientBackAfterARestart(t *testing.T) {
	store, clock := newMemLeaseStore(), &fakeClock{now: testEpoch}
	a := storeServer(t, store, clock).lease(t, "52:54:00:00:00:0a")
	clock.Advance(2 * time.Hour)
	s := storeServer(t, store, clock)
	if got := s.discover(t, "52:54:00:00:00:0b").YourIPAddr.String(); got == a {
		t.Errorf("a new client got %s, a's expired address, while never-held ones were free", got)
	}
	if got := s.discover(t, "52:54:00:00:00:0a").YourIPAddr.String(); got != a {
		t.Errorf("a came back to %s, want its old %s", got, a)
	}
}

func TestWhatTheStoreIsToldAndWhen(t *testing.T) {
	store, clock := newMemLeaseStore(), &fakeClock{now: testEpoch}
	s := storeServer(t, store, clock, func(c *Config) {
		c.Reservations = []Reservation{{MAC: mustMAC("52:54:00:00:00:0a"), IP: netip.MustParseAddr("10.77.0.50"), Hostname: "db1"}}
	})
	const mac = "52:54:00:00:00:0a"
	s.discover(t, mac)
	if store.writes != 0 {
		t.Fatalf("an OFFER wrote to the store (%d writes): offers are not persisted", store.writes)
	}
	s.lease(t, mac)
	l, ok := store.lease(mustMAC(mac))
	if !ok || l.IP != addr("10.77.0.50") || l.Hostname != "db1" || l.Declined ||
		l.Expiry.Before(clock.Now().Add(time.Hour)) || l.Expiry.Nanosecond() != 0 {
		t.Fatalf("stored %+v (%v); want the reserved 10.77.0.50 named db1, an hour or so, whole seconds", l, ok)
	}
	clock.Advance(time.Second)
	s.lease(t, mac) // iPXE asking again right after the PXE ROM
	if store.writes != 1 {
		t.Errorf("%d writes after two ACKs within a second, want 1", store.writes)
	}
	clock.Advance(30 * time.Minute)
	s.request(t, mac, "10.77.0.50", "10.77.0.1")
	if renewed, _ := store.lease(mustMAC(mac)); !renewed.Expiry.After(l.Expiry) || store.writes != 2 {
		t.Errorf("renewal half-way: stored expiry %v (was %v), %d writes; want a later one, 2 writes",
			renewed.Expiry, l.Expiry, store.writes)
	}
	release := message(t, dhcpv4.MessageTypeRelease, mac, dhcpv4.WithClientIP(net.ParseIP("10.77.0.50")),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.77.0.1"))))
	s.exchange(t, release)
	if _, ok := store.lease(mustMAC(mac)); ok {
		t.Error("the released lease is still stored")
	}
	if got := s.Stats().DHCP; got.Releases != 1 {
		t.Errorf("Releases = %d, want 1", got.Releases)
	}
}

func TestNoACKWithoutADurableLease(t *testing.T) {
	store, clock := newMemLeaseStore(), &fakeClock{now: testEpoch}
	s := storeServer(t, store, clock)
	const mac = "52:54:00:00:00:0a"
	addr := s.discover(t, mac).YourIPAddr.String()
	store.fail = errors.New("disk full")
	if out := s.request(t, mac, addr, "10.77.0.1"); out != nil {
		t.Fatalf("REQUEST answered with %v while the store fails", out.msg.MessageType())
	}
	if s.logs.find(t, "dropped DHCP packet", map[string]any{"reason": "lease-store-failed", "level": "ERROR"}) == nil {
		t.Errorf("not logged at ERROR with reason lease-store-failed; log:\n%s", s.logs)
	}
	store.fail = nil
	clock.Advance(time.Second) // the client retries; same expiry step
	if out := s.request(t, mac, addr, "10.77.0.1"); out == nil || out.msg.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("the retried REQUEST got %v, want ACK", out)
	}
	if _, ok := store.lease(mustMAC(mac)); !ok {
		t.Error("the retried REQUEST was ACKed without saving the lease")
	}
}

func TestRestoreSettlesWhatTheStoreSays(t *testing.T) {
	store, clock := newMemLeaseStore(), &fakeClock{now: testEpoch}
	hour := clock.Now().Add(time.Hour)
	for _, l := range []Lease{
		{MAC: mustMAC("52:54:00:00:00:01"), IP: addr("10.77.0.100"), Expiry: hour},                  // lost .100 to 02
		{MAC: mustMAC("52:54:00:00:00:02"), IP: addr("10.77.0.100"), Expiry: hour.Add(time.Minute)}, // granted later
		{MAC: mustMAC("52:54:00:00:00:03"), IP: addr("10.77.0.20"), Expiry: hour},                   // outside the ranges now
		{MAC: mustMAC("52:54:00:00:00:04"), IP: addr("10.77.0.101"), Expiry: hour},                  // .101 is reserved now
		{MAC: mustMAC("52:54:00:00:00:05"), IP: addr("10.77.0.102"), Expiry: hour},                  // but .102 was declined
		declinedLease(addr("10.77.0.102"), clock.Now().Add(declineHold)),                            // until then
		{MAC: mustMAC("01:00:5e:00:00:01"), IP: addr("10.77.0.100"), Expiry: hour.Add(time.Hour)},   // not a client's MAC
		{MAC: mustMAC("52:54:00:00:00:07"), IP: netip.MustParseAddr("fd00::1"), Expiry: hour},       // not IPv4
		declinedLease(addr("10.77.0.100"), clock.Now().Add(-time.Second)),                           // a hold that is over
	} {
		store.leases[string(l.MAC)] = l
	}
	s := storeServer(t, store, clock, func(c *Config) {
		c.Reservations = []Reservation{{MAC: mustMAC("52:54:00:00:00:06"), IP: addr("10.77.0.101")}}
	})
	if e := s.logs.find(t, "leases loaded", nil); e == nil || e["stored"] != 9.0 || e["kept"] != 2.0 {
		t.Errorf("load logged %v, want 9 stored, 2 kept (02's lease and the declined .102)", e)
	}
	if got := s.discover(t, "52:54:00:00:00:02").YourIPAddr.String(); got != "10.77.0.100" {
		t.Errorf("02, whose lease ended last, got %s, want 10.77.0.100", got)
	}
	// .100 is 02's, .101 reserved for 06, .102 declined: nothing for
	// 01, which lost .100, nor 04, whose .101 is reserved now, nor 05,
	// whose .102 was declined.
	for _, mac := range []string{"52:54:00:00:00:01", "52:54:00:00:00:04", "52:54:00:00:00:05"} {
		s.noOffer(t, mac)
	}
	if got := s.discover(t, "52:54:00:00:00:06").YourIPAddr.String(); got != "10.77.0.101" {
		t.Errorf("06 was offered %s, want its reserved 10.77.0.101", got)
	}
}
