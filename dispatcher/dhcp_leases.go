package dispatcher

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/ramfarm/ramfarm/dispatcher/store"
	"github.com/ramfarm/ramfarm/pxe"
)

// dhcpLeases keeps the boot services' DHCP leases in the dispatcher's
// database, so a restarted dispatcher hands nobody an address in use.
type dhcpLeases struct{ st *store.Store }

var _ pxe.LeaseStore = dhcpLeases{}

func (l dhcpLeases) LoadLeases() ([]pxe.Lease, error) {
	recs, err := l.st.Leases()
	if err != nil {
		return nil, err
	}
	out := make([]pxe.Lease, 0, len(recs))
	for _, r := range recs {
		mac, err1 := net.ParseMAC(r.MAC)
		ip, err2 := netip.ParseAddr(r.IP)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("stored lease %+v is corrupt", r)
		}
		out = append(out, pxe.Lease{MAC: mac, IP: ip, Hostname: r.Hostname, Expiry: r.Expiry, Declined: r.Declined})
	}
	return out, nil
}

func (l dhcpLeases) SaveLease(p pxe.Lease) error {
	return l.st.SaveLease(store.Lease{MAC: p.MAC.String(), IP: p.IP.String(), Hostname: p.Hostname, Expiry: p.Expiry, Declined: p.Declined})
}

func (l dhcpLeases) DeleteLease(mac net.HardwareAddr) error {
	return l.st.DeleteLease(mac.String())
}
