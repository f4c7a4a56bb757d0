package pxe

import (
	"errors"
	"net/netip"
	"sync"
	"time"
)

const (
	// offerHold is how long an offered address stays reserved for a client
	// that has not requested it yet. Firmware requests within a second.
	offerHold = time.Minute
	// declineHold keeps an address a client declined (something else
	// answered ARP for it) out of use for a while. dnsmasq waits as long.
	declineHold = 10 * time.Minute
	// maxExpiryStep bounds how far lease expiries are rounded up; see
	// leasePool.expiry.
	maxExpiryStep = time.Minute
)

var (
	errPoolExhausted  = errors.New("no free address in range")
	errNotInRange     = errors.New("address is not in our range")
	errDeclined       = errors.New("address was recently declined")
	errTaken          = errors.New("address is leased to another client")
	errReserved       = errors.New("address is reserved for another client")
	errHasReservation = errors.New("another address is reserved for this client")
)

// leasePool hands out the addresses of the ranges of every network and
// remembers who holds which. It knows nothing of the LeaseStore: it says
// what to save, the handler saves it.
//
// A client keeps its address for as long as nobody else needs it: expired
// and released leases stay on record, and a new client gets an address that
// was never held before one that was. A node that reboots or was away comes
// back to the address it had.
type leasePool struct {
	nets      networks
	reserved  reservations
	leaseTime time.Duration

	mu       sync.Mutex
	byAddr   map[netip.Addr]*lease
	byMAC    map[string]*lease        // net.HardwareAddr as a string
	declined map[netip.Addr]time.Time // address -> when it may be used again
	// fresh maps each range (by its Start) to the lowest address in it
	// that may be unused (not held, reserved or declined): all below it
	// are used, so that finding a never-held address does not rescan
	// every lease each time.
	fresh map[netip.Addr]netip.Addr
}

type lease struct {
	mac     string
	addr    netip.Addr
	expires time.Time
	saved   time.Time // the expiry the LeaseStore has; zero if none (an offer)
}

func newLeasePool(nets networks, reserved reservations, leaseTime time.Duration) *leasePool {
	p := &leasePool{
		nets:      nets,
		reserved:  reserved,
		leaseTime: leaseTime,
		byAddr:    make(map[netip.Addr]*lease),
		byMAC:     make(map[string]*lease),
		declined:  make(map[netip.Addr]time.Time),
		fresh:     make(map[netip.Addr]netip.Addr),
	}
	for _, n := range nets.all {
		for _, r := range n.ranges {
			p.fresh[r.Start] = r.Start
		}
	}
	return p
}

// offer picks an address in n for a DISCOVER from mac and holds it for
// offerHold: mac's reserved address if it has one there, else the address
// mac had before if still usable, else wanted (option 50) if free, else the
// first never-held address, else the first whose lease ran out.
func (p *leasePool) offer(mac string, n *network, wanted netip.Addr, now time.Time) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.reservedFor(mac, n, now); ok {
		return p.hold(mac, r, now), nil
	}
	if l, ok := p.byMAC[mac]; ok && p.usable(mac, n, l.addr, now) == nil {
		return p.hold(mac, l.addr, now), nil
	}
	if wanted.IsValid() && p.usable(mac, n, wanted, now) == nil {
		return p.hold(mac, wanted, now), nil
	}
	if a, ok := p.neverHeld(n, now); ok {
		return p.hold(mac, a, now), nil
	}
	for _, r := range n.ranges {
		for a := r.Start; r.contains(a); a = a.Next() {
			if p.usable(mac, n, a, now) == nil {
				return p.hold(mac, a, now), nil
			}
		}
	}
	return netip.Addr{}, errPoolExhausted
}

// hold keeps addr for mac for offerHold, without shortening a lease mac
// already has on it.
func (p *leasePool) hold(mac string, addr netip.Addr, now time.Time) netip.Addr {
	until := now.Add(offerHold)
	if l, ok := p.byMAC[mac]; ok && l.addr == addr {
		if until.After(l.expires) {
			l.expires = until
		}
		return addr
	}
	p.assign(mac, addr, until)
	return addr
}

// neverHeld returns the lowest unused address of n's ranges.
func (p *leasePool) neverHeld(n *network, now time.Time) (netip.Addr, bool) {
	for _, r := range n.ranges {
		a := p.fresh[r.Start]
		for r.contains(a) && p.used(a, now) {
			a = a.Next()
		}
		p.fresh[r.Start] = a
		if r.contains(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// used reports whether a is held (even by an expired lease), reserved or
// set aside after a DECLINE.
func (p *leasePool) used(a netip.Addr, now time.Time) bool {
	_, held := p.byAddr[a]
	_, reserved := p.reserved.byIP[a]
	return held || reserved || p.isDeclined(a, now)
}

// ack leases addr in n to mac for leaseTime, in answer to a REQUEST. The
// address need not have been offered: a server without a LeaseStore forgets
// every lease when it restarts, and a running node renewing its free address
// must keep it rather than be knocked off the network.
//
// It returns the lease's expiry and whether the LeaseStore lacks it. The
// pool counts the lease saved from now on; if saving fails, the caller says
// so with unsaved.
func (p *leasePool) ack(mac string, n *network, addr netip.Addr, now time.Time) (expiry time.Time, save bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.usable(mac, n, addr, now); err != nil {
		return time.Time{}, false, err
	}
	expiry = p.expiry(now)
	l, ok := p.byMAC[mac]
	if !ok || l.addr != addr {
		l = p.assign(mac, addr, expiry)
	}
	l.expires = expiry
	save = !l.saved.Equal(expiry)
	l.saved = expiry
	return expiry, save, nil
}

// expiry is when a lease granted now ends: leaseTime from now, rounded up to
// a whole step of leaseTime/8 (at least a second, at most maxExpiryStep).
// Rounding makes a client that asks twice within a step (a PXE ROM and then
// iPXE, or a retransmission) cost one LeaseStore write rather than two;
// rounding up means the server holds the address a little longer than the
// client counts on, never shorter.
func (p *leasePool) expiry(now time.Time) time.Time {
	step := min(max(p.leaseTime/8, time.Second), maxExpiryStep).Truncate(time.Second)
	end := now.Add(p.leaseTime)
	if rounded := end.Truncate(step); rounded.Before(end) {
		end = rounded.Add(step)
	}
	return end
}

// unsaved records that the LeaseStore did not take mac's lease after all, so
// that the next ACK saves it again.
func (p *leasePool) unsaved(mac string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := p.byMAC[mac]; ok {
		l.saved = time.Time{}
	}
}

// release ends mac's lease on addr (RELEASE). It reports false if mac did
// not hold addr.
func (p *leasePool) release(mac string, addr netip.Addr, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.leaseOn(mac, addr)
	if l == nil {
		return false
	}
	l.expires, l.saved = now, time.Time{}
	return true
}

// withdraw ends whatever mac holds: it chose another server's offer.
func (p *leasePool) withdraw(mac string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := p.byMAC[mac]; ok {
		l.expires = now
	}
}

// decline takes addr away from mac and out of use for declineHold (DECLINE:
// the client found the address in use), and returns when the hold ends. It
// reports false if mac did not hold addr.
func (p *leasePool) decline(mac string, addr netip.Addr, now time.Time) (until time.Time, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leaseOn(mac, addr) == nil {
		return time.Time{}, false
	}
	delete(p.byMAC, mac)
	delete(p.byAddr, addr)
	until = now.Add(declineHold)
	p.declined[addr] = until
	return until, true
}

// leaseOn returns mac's lease if it is on addr, else nil.
func (p *leasePool) leaseOn(mac string, addr netip.Addr) *lease {
	if l, ok := p.byMAC[mac]; ok && l.addr == addr {
		return l
	}
	return nil
}

// assign records a lease of addr to mac, dropping what either had before.
func (p *leasePool) assign(mac string, addr netip.Addr, expires time.Time) *lease {
	if old, ok := p.byMAC[mac]; ok && old.addr != addr {
		p.forgetAddr(old.addr)
	}
	if prev, ok := p.byAddr[addr]; ok && prev.mac != mac {
		delete(p.byMAC, prev.mac)
	}
	l := &lease{mac: mac, addr: addr, expires: expires}
	p.byAddr[addr] = l
	p.byMAC[mac] = l
	return l
}

// forgetAddr makes addr a never-held address again.
func (p *leasePool) forgetAddr(addr netip.Addr) {
	delete(p.byAddr, addr)
	if n := p.nets.containing(addr); n != nil {
		if r, ok := n.rangeOf(addr); ok && addr.Less(p.fresh[r.Start]) {
			p.fresh[r.Start] = addr
		}
	}
}

// usable says why mac may not have addr in n, or returns nil if it may: its
// reserved address there, or an address of n's ranges that is reserved for
// nobody else, not set aside after a DECLINE, and not leased to another
// client. (restore relies on errTaken being checked last.)
func (p *leasePool) usable(mac string, n *network, addr netip.Addr, now time.Time) error {
	if r, ok := p.reservedFor(mac, n, now); ok {
		if addr != r {
			return errHasReservation
		}
		// Ours even if a lease from before the reservation says otherwise.
		return nil
	}
	owner, reserved := p.reserved.byIP[addr]
	switch {
	case !n.inRanges(addr):
		return errNotInRange
	case reserved && owner != mac:
		return errReserved
	case p.isDeclined(addr, now):
		return errDeclined
	}
	if l := p.byAddr[addr]; l != nil && l.mac != mac && now.Before(l.expires) {
		return errTaken
	}
	return nil
}

// reservedFor returns mac's reserved address if it is in n and not set
// aside after a DECLINE. While it is, mac is served from the ranges like any
// client, as dnsmasq does: offering it the address again would only get it
// declined again, and the node would not boot.
func (p *leasePool) reservedFor(mac string, n *network, now time.Time) (netip.Addr, bool) {
	r, ok := p.reserved.byMAC[mac]
	if !ok || !n.prefix.Contains(r.IP) || p.isDeclined(r.IP, now) {
		return netip.Addr{}, false
	}
	return r.IP, true
}

func (p *leasePool) isDeclined(addr netip.Addr, now time.Time) bool {
	until, ok := p.declined[addr]
	if ok && !now.Before(until) {
		delete(p.declined, addr)
		return false
	}
	return ok
}
