package pxe

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

var (
	t0   = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	none = netip.Addr{}
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func newTestPool(first, last string) *leasePool {
	return newLeasePool(addr(first), addr(last), time.Hour)
}

func mustOffer(t *testing.T, p *leasePool, mac string, wanted netip.Addr, now time.Time) netip.Addr {
	t.Helper()
	a, err := p.offer(mac, wanted, now)
	if err != nil {
		t.Fatalf("offer to %s: %v", mac, err)
	}
	return a
}

func TestOfferIsStickyAndHandsOutInOrder(t *testing.T) {
	p := newTestPool("10.0.0.10", "10.0.0.20")
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
	p := newTestPool("10.0.0.10", "10.0.0.10")
	mustOffer(t, p, "A", none, t0)
	if _, err := p.offer("B", none, t0.Add(offerHold-time.Second)); !errors.Is(err, errPoolExhausted) {
		t.Fatalf("offer to B while A's offer is held: err %v, want %v", err, errPoolExhausted)
	}
	if a := mustOffer(t, p, "B", none, t0.Add(offerHold)); a != addr("10.0.0.10") {
		t.Errorf("after the hold, B was offered %v", a)
	}
	if _, err := p.offer("A", none, t0.Add(offerHold)); !errors.Is(err, errPoolExhausted) {
		t.Errorf("A, whose address went to B, got err %v, want %v", err, errPoolExhausted)
	}
}

func TestNewClientsGetNeverHeldAddressesFirst(t *testing.T) {
	p := newTestPool("10.0.0.10", "10.0.0.12")
	if err := p.ack("A", addr("10.0.0.10"), t0); err != nil {
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

func TestAck(t *testing.T) {
	p := newTestPool("10.0.0.10", "10.0.0.20")
	offered := mustOffer(t, p, "A", none, t0)
	if err := p.ack("A", offered, t0); err != nil {
		t.Errorf("ack of the offered address: %v", err)
	}
	if err := p.ack("B", addr("10.0.0.15"), t0); err != nil {
		t.Errorf("ack of a free address never offered (server restarted): %v", err)
	}
	if err := p.ack("B", addr("10.0.0.16"), t0); err != nil {
		t.Errorf("ack of a second free address: %v", err)
	}
	if err := p.ack("C", addr("10.0.0.15"), t0); err != nil {
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
		if err := p.ack("D", addr(tc.addr), t0); !errors.Is(err, tc.want) {
			t.Errorf("ack of %s to D: err %v, want %v", tc.addr, err, tc.want)
		}
	}
	if err := p.ack("D", addr("10.0.0.10"), t0.Add(time.Hour)); err != nil {
		t.Errorf("ack of A's address after A's lease expired: %v", err)
	}
}

func TestReleaseAndDecline(t *testing.T) {
	p := newTestPool("10.0.0.10", "10.0.0.10")
	if err := p.ack("A", addr("10.0.0.10"), t0); err != nil {
		t.Fatal(err)
	}
	if p.release("B", addr("10.0.0.10"), t0) || p.release("A", addr("10.0.0.11"), t0) {
		t.Error("release of a lease the client does not hold succeeded")
	}
	if !p.release("A", addr("10.0.0.10"), t0) {
		t.Fatal("release of A's lease failed")
	}
	if err := p.ack("B", addr("10.0.0.10"), t0); err != nil {
		t.Fatalf("ack after release: %v", err)
	}

	if p.decline("A", addr("10.0.0.10"), t0) {
		t.Error("A declined B's address")
	}
	if !p.decline("B", addr("10.0.0.10"), t0) {
		t.Fatal("B's decline failed")
	}
	if err := p.ack("B", addr("10.0.0.10"), t0.Add(declineHold-time.Second)); !errors.Is(err, errDeclined) {
		t.Errorf("ack of a declined address: err %v, want %v", err, errDeclined)
	}
	if _, err := p.offer("C", none, t0.Add(declineHold-time.Second)); !errors.Is(err, errPoolExhausted) {
		t.Errorf("offer with the only address declined: err %v, want %v", err, errPoolExhausted)
	}
	if a := mustOffer(t, p, "C", none, t0.Add(declineHold)); a != addr("10.0.0.10") {
		t.Errorf("after the decline hold, offered %v", a)
	}
}

func TestWithdraw(t *testing.T) {
	p := newTestPool("10.0.0.10", "10.0.0.10")
	mustOffer(t, p, "A", none, t0)
	p.withdraw("A", t0)
	p.withdraw("nobody", t0)
	if a := mustOffer(t, p, "B", none, t0); a != addr("10.0.0.10") {
		t.Errorf("withdrawn offer's address went to %v", a)
	}
}
