package pxe

import "net/netip"

// network is one subnet the server hands out addresses in, with what its
// clients are told: the subnet on Config.Interface, or a RelaySubnet.
type network struct {
	prefix netip.Prefix
	router netip.Addr // invalid: no option 3
	ranges []Range
}

func (n *network) inRanges(a netip.Addr) bool {
	_, ok := n.rangeOf(a)
	return ok
}

// rangeOf returns the range a is in, and false if none.
func (n *network) rangeOf(a netip.Addr) (Range, bool) {
	for _, r := range n.ranges {
		if r.contains(a) {
			return r, true
		}
	}
	return Range{}, false
}

// networks are all the subnets of a Config.
type networks struct {
	local *network   // Subnet, on Interface
	all   []*network // local first, then the RelaySubnets
}

func newNetworks(c *Config) networks {
	local := &network{prefix: c.Subnet, router: c.Router, ranges: c.Ranges}
	ns := networks{local: local, all: []*network{local}}
	for _, rs := range c.RelaySubnets {
		ns.all = append(ns.all, &network{prefix: rs.Subnet, router: rs.Router, ranges: rs.Ranges})
	}
	return ns
}

// containing returns the network a is in, or nil.
func (ns networks) containing(a netip.Addr) *network {
	for _, n := range ns.all {
		if n.prefix.Contains(a) {
			return n
		}
	}
	return nil
}
