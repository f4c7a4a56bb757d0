package pxe

import (
	"net"
	"net/netip"
	"slices"
	"time"
)

// LeaseStore keeps leases across restarts. SaveLease must be durable when it
// returns: the server sends an ACK only after it.
//
// The store keys leases by MAC: SaveLease replaces what it has under l.MAC,
// DeleteLease removes it. The server calls SaveLease and DeleteLease from
// many goroutines at once, one per request in flight and never two for the
// same MAC at a time, so a store may group-commit concurrent calls.
// LoadLeases is called once, by New.
type LeaseStore interface {
	LoadLeases() ([]Lease, error)
	SaveLease(Lease) error
	DeleteLease(mac net.HardwareAddr) error
}

// Lease is an address held by a client, or one set aside.
//
// Expiry is when the lease ends (it still counts after that: a client that
// comes back gets its old address if nobody took it). The server rounds it up
// to a whole second, so a store may keep seconds.
//
// A Declined lease is an address a client reported in use by someone else
// (DHCPDECLINE), kept out of use until Expiry. It belongs to no client, so
// its MAC is not the decliner's but ff:ff followed by the four bytes of IP
// (ff:ff:0a:4d:00:64 for 10.77.0.100): a multicast address, which no client
// can have (requests from one are dropped). That way each declined address is
// a record of its own, the decliner's next lease, saved under its own MAC,
// does not overwrite it, and a store keyed by MAC needs no special case.
// Hostname is empty.
type Lease struct {
	MAC      net.HardwareAddr
	IP       netip.Addr
	Hostname string
	Expiry   time.Time
	Declined bool
}

// declinedLease is the record that keeps addr out of use until until.
func declinedLease(addr netip.Addr, until time.Time) Lease {
	a := addr.As4()
	mac := net.HardwareAddr{0xff, 0xff, a[0], a[1], a[2], a[3]}
	return Lease{MAC: mac, IP: addr, Expiry: until, Declined: true}
}

// restore takes up the leases a store kept, expired ones too, and reports
// how many it kept (declined addresses included). It leaves out what the configuration no longer allows:
// an address outside every range, or reserved for another client. Where two
// leases name one address, the one that ends last wins: it was granted last.
// A declined address stays out of use until its hold ends, whoever's lease
// names it.
func (p *leasePool) restore(leases []Lease, now time.Time) (kept int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range leases {
		if l.Declined && l.IP.Is4() && now.Before(l.Expiry) {
			p.declined[l.IP] = l.Expiry
		}
	}
	byExpiry := slices.Clone(leases)
	slices.SortFunc(byExpiry, func(a, b Lease) int { return a.Expiry.Compare(b.Expiry) })
	for _, l := range byExpiry {
		n := p.nets.containing(l.IP)
		if l.Declined || !isClientMAC(l.MAC) || n == nil {
			continue
		}
		// errTaken is checked last, so every other rule holds. Taking the
		// address from its holder is what "ends last wins" means here.
		if err := p.usable(string(l.MAC), n, l.IP, now); err != nil && err != errTaken {
			continue
		}
		restored := p.assign(string(l.MAC), l.IP, l.Expiry)
		restored.saved = l.Expiry
	}
	return len(p.byMAC) + len(p.declined)
}
