package pxe

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

var (
	t0   = testEpoch
	none = netip.Addr{}
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func span(first, last string) Range { return Range{addr(first), addr(last)} }

// testPool is a pool over one network, 10.0.0.0/24, for tests that drive
// the pool directly.
type testPool struct {
	*leasePool
	net *network
}

func newTestPool(ranges []Range, rs ...Reservation) testPool {
	n := &network{prefix: netip.MustParsePrefix("10.0.0.0/24"), ranges: ranges}
	return testPool{newLeasePool(networks{local: n, all: []*network{n}}, newReservations(rs), time.Hour), n}
}

func newOneRangePool(first, last string) testPool {
	return newTestPool([]Range{span(first, last)})
}

func (p testPool) offerTo(mac string, wanted netip.Addr, now time.Time) (netip.Addr, error) {
	return p.offer(mac, p.net, wanted, now)
}

func (p testPool) grant(mac string, a netip.Addr, now time.Time) error {
	_, _, err := p.ack(mac, p.net, a, now)
	return err
}

func mustOffer(t *testing.T, p testPool, mac string, wanted netip.Addr, now time.Time) netip.Addr {
	t.Helper()
	a, err := p.offerTo(mac, wanted, now)
	if err != nil {
		t.Fatalf("offer to %s: %v", mac, err)
	}
	return a
}

func TestOfferIsStickyAndHandsOutInOrder(t *testing.T) {
	p := newOneRangePool("10.0.0.10", "10.0.0.20")
	if a := mustOffer(t, p, "A", none, t0); a != addr("10.0.0.10") {
		t.Errorf("first offer %v, want the start of the range", a)
	}
	if a := mustOffer(t, p, "B", none, t0); a != addr("10.0.0.11") {
		t.Errorf("second client offered %v, want 10.0.0.11", a)
	}
	if a := mustOffer(t, p, "A", addr("10.0.0.15"), t0.Add(time.Second)); a != addr("10.0.0.10") {
		t.Errorf("repeat offer to A %v, want its earlier 10.0.0.10 whatever it asks", a)
	}
	if a := mustOffer(t, p, "C", addr("10.0.0.15"), t0); a != addr("10.0.0.15") {
		t.Errorf("offer for wanted free 10.0.0.15 was %v", a)
	}
	if a := mustOffer(t, p, "D", addr("10.0.0.99"), t0); a != addr("10.0.0.12") {
		t.Errorf("offer for an out-of-range wish was %v, want the next free 10.0.0.12", a)
	}
}

func TestOfferIsHeldOnlyBriefly(t *testing.T) {
	p := newOneRangePool("10.0.0.10", "10.0.0.10")
	mustOffer(t, p, "A", none, t0)
	if _, err := p.offerTo("B", none, t0.Add(offerHold-time.Second)); !errors.Is(err, errPoolExhausted) {
		t.Fatalf("offer to B while A's offer is held: err %v, want %v", err, errPoolExhausted)
	}
	if a := mustOffer(t, p, "B", none, t0.Add(offerHold)); a != addr("10.0.0.10") {
		t.Errorf("after the hold, B was offered %v", a)
	}
	if _, err := p.offerTo("A", none, t0.Add(offerHold)); !errors.Is(err, errPoolExhausted) {
		t.Errorf("A, whose address went to B, got err %v, want %v", err, errPoolExhausted)
	}
}

func TestNewClientsGetNeverHeldAddressesFirst(t *testing.T) {
	p := newOneRangePool("10.0.0.10", "10.0.0.12")
	if err := p.grant("A", addr("10.0.0.10"), t0); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(2 * time.Hour) // A's lease has expired
	if a := mustOffer(t, p, "B", none, later); a != addr("10.0.0.11") {
		t.Errorf("B offered %v, want never-held 10.0.0.11 before A's expired 10.0.0.10", a)
	}
	if a := mustOffer(t, p, "A", none, later); a != addr("10.0.0.10") {
		t.Errorf("A came back to %v, want its old 10.0.0.10", a)
	}
	mustOffer(t, p, "C", none, later)
	if a := mustOffer(t, p, "D", none, later.Add(offerHold)); a != addr("10.0.0.10") {
		t.Errorf("with the range full of expired leases, D got %v, want the first reclaimed", a)
	}
}

func TestAddressLeftBehindIsNeverHeldAgain(t *testing.T) {
	p := newOneRangePool("10.0.0.10", "10.0.0.20")
	mustOffer(t, p, "A", none, t0) // .10
	mustOffer(t, p, "B", none, t0) // .11
	if err := p.grant("A", addr("10.0.0.15"), t0); err != nil {
		t.Fatal(err)
	}
	if a := mustOffer(t, p, "C", none, t0); a != addr("10.0.0.10") {
		t.Errorf("C offered %v, want .10, which A left for .15", a)
	}
}

func TestOfferAcrossTwoRanges(t *testing.T) {
	p := newTestPool([]Range{span("10.0.0.10", "10.0.0.11"), span("10.0.0.50", "10.0.0.50")})
	var got []netip.Addr
	for _, mac := range []string{"A", "B", "C"} {
		got = append(got, mustOffer(t, p, mac, none, t0))
	}
	if want := []netip.Addr{addr("10.0.0.10"), addr("10.0.0.11"), addr("10.0.0.50")}; !slices.Equal(got, want) {
		t.Errorf("offers %v, want %v: the first range, then the second", got, want)
	}
	if _, err := p.offerTo("D", none, t0); !errors.Is(err, errPoolExhausted) {
		t.Errorf("fourth client: err %v, want %v", err, errPoolExhausted)
	}
	if err := p.grant("D", addr("10.0.0.30"), t0); !errors.Is(err, errNotInRange) {
		t.Errorf("ack of an address between the ranges: err %v, want %v", err, errNotInRange)
	}
	if a := mustOffer(t, p, "D", none, t0.Add(offerHold)); a != addr("10.0.0.10") {
		t.Errorf("after the offers ran out, D got %v, want the first reclaimed", a)
	}
}

func TestReservations(t *testing.T) {
	reserved := Reservation{MAC: mustMAC("52:54:00:00:00:aa"), IP: addr("10.0.0.11")}
	outside := Reservation{MAC: mustMAC("52:54:00:00:00:bb"), IP: addr("10.0.0.200")}
	p := newTestPool([]Range{span("10.0.0.10", "10.0.0.12")}, reserved, outside)
	owner, other := string(reserved.MAC), "other"

	if a := mustOffer(t, p, other, addr("10.0.0.11"), t0); a != addr("10.0.0.10") {
		t.Errorf("another client asking for the reserved .11 was offered %v, want .10", a)
	}
	if a := mustOffer(t, p, "third", none, t0); a != addr("10.0.0.12") {
		t.Errorf("the next client was offered %v, want .12: .11 is reserved", a)
	}
	if _, err := p.offerTo("fourth", none, t0); !errors.Is(err, errPoolExhausted) {
		t.Errorf("with only the reserved address left: err %v, want %v", err, errPoolExhausted)
	}
	if err := p.grant(other, addr("10.0.0.11"), t0); !errors.Is(err, errReserved) {
		t.Errorf("ack of the reserved address to another client: err %v, want %v", err, errReserved)
	}
	if a := mustOffer(t, p, owner, addr("10.0.0.12"), t0); a != addr("10.0.0.11") {
		t.Errorf("the owner was offered %v, want its reserved .11 whatever it asks", a)
	}
	if err := p.grant(owner, addr("10.0.0.12"), t0); !errors.Is(err, errHasReservation) {
		t.Errorf("ack of another address to the owner: err %v, want %v", err, errHasReservation)
	}
	if err := p.grant(owner, addr("10.0.0.11"), t0); err != nil {
		t.Errorf("ack of the reserved address to its owner: %v", err)
	}
	if a := mustOffer(t, p, string(outside.MAC), none, t0); a != addr("10.0.0.200") {
		t.Errorf("the owner of a reservation outside the ranges was offered %v, want .200", a)
	}
	if err := p.grant(string(outside.MAC), addr("10.0.0.200"), t0); err != nil {
		t.Errorf("ack of a reservation outside the ranges: %v", err)
	}
}

func TestDeclinedReservationFallsBackToTheRanges(t *testing.T) {
	reserved := Reservation{MAC: mustMAC("52:54:00:00:00:aa"), IP: addr("10.0.0.200")}
	p := newTestPool([]Range{span("10.0.0.10", "10.0.0.12")}, reserved)
	owner := string(reserved.MAC)
	if err := p.grant(owner, reserved.IP, t0); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.decline(owner, reserved.IP, t0); !ok {
		t.Fatal("the owner could not decline its reserved address")
	}
	if a := mustOffer(t, p, owner, none, t0); a != addr("10.0.0.10") {
		t.Errorf("while its reservation is declined, the owner was offered %v, want .10 from the range", a)
	}
	if a := mustOffer(t, p, owner, none, t0.Add(declineHold)); a != reserved.IP {
		t.Errorf("after the decline hold, the owner was offered %v, want its reserved %v", a, reserved.IP)
	}
}

func TestAck(t *testing.T) {
	p := newOneRangePool("10.0.0.10", "10.0.0.20")
	offered := mustOffer(t, p, "A", none, t0)
	if err := p.grant("A", offered, t0); err != nil {
		t.Errorf("ack of the offered address: %v", err)
	}
	if err := p.grant("B", addr("10.0.0.15"), t0); err != nil {
		t.Errorf("ack of a free address never offered (server restarted): %v", err)
	}
	if err := p.grant("B", addr("10.0.0.16"), t0); err != nil {
		t.Errorf("ack of a second free address: %v", err)
	}
	if err := p.grant("C", addr("10.0.0.15"), t0); err != nil {
		t.Errorf("B moved to .16, so .15 should be free for C: %v", err)
	}
	for _, tc := range []struct {
		addr string
		want error
	}{
		{"10.0.0.10", errTaken},
		{"10.0.0.9", errNotInRange},
		{"10.0.0.21", errNotInRange},
		{"192.168.0.10", errNotInRange},
	} {
		if err := p.grant("D", addr(tc.addr), t0); !errors.Is(err, tc.want) {
			t.Errorf("ack of %s to D: err %v, want %v", tc.addr, err, tc.want)
		}
	}
	if err := p.grant("D", addr("10.0.0.10"), t0.Add(time.Hour+maxExpiryStep)); err != nil {
		t.Errorf("ack of A's address after A's lease expired: %v", err)
	}
}

func TestAckSaysWhenTheStoreNeedsTheLease(t *testing.T) {
	p := newOneRangePool("10.0.0.10", "10.0.0.20")
	a := addr("10.0.0.10")
	ack := func(at time.Time) (time.Time, bool) {
		t.Helper()
		expiry, save, err := p.ack("A", p.net, a, at)
		if err != nil {
			t.Fatal(err)
		}
		return expiry, save
	}
	first, save := ack(t0)
	if !save || first.Before(t0.Add(time.Hour)) || first.After(t0.Add(time.Hour+maxExpiryStep)) {
		t.Errorf("first ack: expiry %v, save %v; want to save an expiry within a step after an hour", first, save)
	}
	if again, save := ack(t0.Add(time.Second)); save || !again.Equal(first) {
		t.Errorf("ack a second later: expiry %v, save %v; want the same expiry, nothing to save", again, save)
	}
	p.unsaved("A")
	if _, save := ack(t0.Add(2 * time.Second)); !save {
		t.Error("ack after a failed save: nothing to save, want it saved again")
	}
	if renewed, save := ack(t0.Add(30 * time.Minute)); !save || !renewed.After(first) {
		t.Errorf("renewal half-way: expiry %v, save %v; want a later expiry, saved", renewed, save)
	}
}

func TestExpiryIsRoundedUpToAWholeStep(t *testing.T) {
	for _, tc := range []struct {
		lease, after time.Duration
		want         time.Duration // from t0, which is 4m5s past the hour
	}{
		{time.Hour, 0, time.Hour + 55*time.Second}, // step 1m: 4m5s -> 5m
		{time.Hour, 55 * time.Second, time.Hour + 55*time.Second},
		{time.Hour, 56 * time.Second, time.Hour + 115*time.Second},
		{8 * time.Second, 0, 8 * time.Second}, // step 1s: t0 is a whole second
		{time.Second, 0, time.Second},
		{time.Second, time.Millisecond, 2 * time.Second},
	} {
		p := newLeasePool(networks{}, reservations{}, tc.lease)
		if got := p.expiry(t0.Add(tc.after)).Sub(t0); got != tc.want {
			t.Errorf("lease %v granted at +%v: ends at +%v, want +%v", tc.lease, tc.after, got, tc.want)
		}
	}
}

func TestReleaseAndDecline(t *testing.T) {
	p := newOneRangePool("10.0.0.10", "10.0.0.10")
	if err := p.grant("A", addr("10.0.0.10"), t0); err != nil {
		t.Fatal(err)
	}
	if p.release("B", addr("10.0.0.10"), t0) || p.release("A", addr("10.0.0.11"), t0) {
		t.Error("release of a lease the client does not hold succeeded")
	}
	if !p.release("A", addr("10.0.0.10"), t0) {
		t.Fatal("release of A's lease failed")
	}
	if err := p.grant("B", addr("10.0.0.10"), t0); err != nil {
		t.Fatalf("ack after release: %v", err)
	}

	if _, ok := p.decline("A", addr("10.0.0.10"), t0); ok {
		t.Error("A declined B's address")
	}
	until, ok := p.decline("B", addr("10.0.0.10"), t0)
	if !ok || !until.Equal(t0.Add(declineHold)) {
		t.Fatalf("B's decline: ok %v, held until %v; want ok until %v", ok, until, t0.Add(declineHold))
	}
	if err := p.grant("B", addr("10.0.0.10"), t0.Add(declineHold-time.Second)); !errors.Is(err, errDeclined) {
		t.Errorf("ack of a declined address: err %v, want %v", err, errDeclined)
	}
	if _, err := p.offerTo("C", none, t0.Add(declineHold-time.Second)); !errors.Is(err, errPoolExhausted) {
		t.Errorf("offer with the only address declined: err %v, want %v", err, errPoolExhausted)
	}
	if a := mustOffer(t, p, "C", none, t0.Add(declineHold)); a != addr("10.0.0.10") {
		t.Errorf("after the decline hold, offered %v", a)
	}
}

func TestWithdraw(t *testing.T) {
	p := newOneRangePool("10.0.0.10", "10.0.0.10")
	mustOffer(t, p, "A", none, t0)
	p.withdraw("A", t0)
	p.withdraw("nobody", t0)
	if a := mustOffer(t, p, "B", none, t0); a != addr("10.0.0.10") {
		t.Errorf("withdrawn offer's address went to %v", a)
	}
}
