package netconf

import (
	"bytes"
	"context"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// nic is a network interface that DHCP might run on.
type nic struct {
	name     string
	index    int
	mac      net.HardwareAddr
	ethernet bool
	link     netlink.Link
}

func listNICs() ([]nic, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	nics := make([]nic, 0, len(links))
	for _, link := range links {
		nics = append(nics, nicOf(link))
	}
	return nics, nil
}

func nicNamed(name string) (nic, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nic{}, err
	}
	return nicOf(link), nil
}

func nicOf(link netlink.Link) nic {
	a := link.Attrs()
	return nic{
		name:     a.Name,
		index:    a.Index,
		mac:      a.HardwareAddr,
		ethernet: a.EncapType == "ether" && len(a.HardwareAddr) == 6,
		link:     link,
	}
}

// candidates returns the NICs to try, in order: only the one with the
// BOOTIF MAC if want is given and found (found is then true), else every
// Ethernet NIC by interface index. Loopback is never Ethernet.
func candidates(all []nic, want net.HardwareAddr) (nics []nic, found bool) {
	for _, n := range all {
		if n.ethernet {
			nics = append(nics, n)
		}
	}
	slices.SortFunc(nics, func(a, b nic) int { return a.index - b.index })
	if want != nil {
		if i := slices.IndexFunc(nics, func(n nic) bool { return bytes.Equal(n.mac, want) }); i >= 0 {
			return nics[i : i+1], true
		}
	}
	return nics, false
}

// waitForCarrier polls nics until at least one has carrier, and returns
// those that do, in order. It returns none if wait or ctx runs out first.
func waitForCarrier(ctx context.Context, nics []nic, wait time.Duration) []nic {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var up []nic
		for _, n := range nics {
			if link, err := netlink.LinkByIndex(n.index); err == nil && link.Attrs().RawFlags&unix.IFF_LOWER_UP != 0 {
				up = append(up, n)
			}
		}
		if len(up) > 0 {
			return up
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func names(nics []nic) string {
	var s []string
	for _, n := range nics {
		s = append(s, n.name)
	}
	return strings.Join(s, ", ")
}
