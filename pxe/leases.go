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
	// answered ARP for it) out of use for a while.
	declineHold = 10 * time.Minute
)

var (
	errPoolExhausted = errors.New("no free address in range")
	errNotInRange    = errors.New("address is not in our range")
	errDeclined      = errors.New("address was recently declined")
	errTaken         = errors.New("address is leased to another client")
)

// leasePool hands out the addresses of one range and remembers who holds
// which, in memory only.
//
// A client keeps its address for as long as nobody else needs it: expired
// and released leases stay on record, and a new client gets an address that
// was never held before one that was. A node that reboots or was away comes
// back to the address it had.
type leasePool struct {
	first, last netip.Addr
	leaseTime   time.Duration

	mu       sync.Mutex
	byAddr   map[netip.Addr]*lease
	byMAC    map[string]*lease        // net.HardwareAddr as a string
	declined map[netip.Addr]time.Time // address -> when it may be used again
}

type lease struct {
	mac     string
	addr    netip.Addr
	expires time.Time
}

func newLeasePool(first, last netip.Addr, leaseTime time.Duration) *leasePool {
	return &leasePool{
		first:     first,
		last:      last,
		leaseTime: leaseTime,
		byAddr:    make(map[netip.Addr]*lease),
		byMAC:     make(map[string]*lease),
		declined:  make(map[netip.Addr]time.Time),
	}
}

// offer picks an address for a DISCOVER from mac and holds it for offerHold:
// the address mac had before if any, else wanted (option 50) if free, else
// the first free one.
func (p *leasePool) offer(mac string, wanted netip.Addr, now time.Time) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := p.byMAC[mac]; ok {
		if held := now.Add(offerHold); held.After(l.expires) {
			l.expires = held
		}
		return l.addr, nil
	}
	if p.free(wanted, now) {
		return p.assign(mac, wanted, now.Add(offerHold)), nil
	}
	for _, reclaim := range []bool{false, true} {
		for a := p.first; a.Compare(p.last) <= 0; a = a.Next() {
			if _, held := p.byAddr[a]; (reclaim || !held) && p.free(a, now) {
				return p.assign(mac, a, now.Add(offerHold)), nil
			}
		}
	}
	return netip.Addr{}, errPoolExhausted
}

// ack leases addr to mac for leaseTime, in answer to a REQUEST. The address
// need not have been offered: after a restart the pool has forgotten every
// lease, and a running node renewing its free address must keep it rather
// than be knocked off the network.
func (p *leasePool) ack(mac string, addr netip.Addr, now time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch l := p.byAddr[addr]; {
	case !p.inRange(addr):
		return errNotInRange
	case p.isDeclined(addr, now):
		return errDeclined
	case l != nil && l.mac != mac && now.Before(l.expires):
		return errTaken
	}
	p.assign(mac, addr, now.Add(p.leaseTime))
	return nil
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
	l.expires = now
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
// the client found the address in use). It reports false if mac did not
// hold addr.
func (p *leasePool) decline(mac string, addr netip.Addr, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leaseOn(mac, addr) == nil {
		return false
	}
	delete(p.byMAC, mac)
	delete(p.byAddr, addr)
	p.declined[addr] = now.Add(declineHold)
	return true
}

// leaseOn returns mac's lease if it is on addr, else nil.
func (p *leasePool) leaseOn(mac string, addr netip.Addr) *lease {
	if l, ok := p.byMAC[mac]; ok && l.addr == addr {
		return l
	}
	return nil
}

// assign records a lease of addr to mac, dropping what either had before.
func (p *leasePool) assign(mac string, addr netip.Addr, expires time.Time) netip.Addr {
	if old, ok := p.byMAC[mac]; ok && old.addr != addr {
		delete(p.byAddr, old.addr)
	}
	if prev, ok := p.byAddr[addr]; ok && prev.mac != mac {
		delete(p.byMAC, prev.mac)
	}
	l := &lease{mac: mac, addr: addr, expires: expires}
	p.byAddr[addr] = l
	p.byMAC[mac] = l
	return addr
}

// free reports whether addr may be given to a new client.
func (p *leasePool) free(addr netip.Addr, now time.Time) bool {
	if !p.inRange(addr) || p.isDeclined(addr, now) {
		return false
	}
	l, held := p.byAddr[addr]
	return !held || !now.Before(l.expires)
}

func (p *leasePool) inRange(addr netip.Addr) bool {
	return addr.Is4() && p.first.Compare(addr) <= 0 && addr.Compare(p.last) <= 0
}

func (p *leasePool) isDeclined(addr netip.Addr, now time.Time) bool {
	until, ok := p.declined[addr]
	if ok && !now.Before(until) {
		delete(p.declined, addr)
		return false
	}
	return ok
}
