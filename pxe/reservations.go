package pxe

import "net/netip"

// reservations are Config.Reservations, indexed both ways.
type reservations struct {
	byMAC map[string]Reservation // net.HardwareAddr as a string
	byIP  map[netip.Addr]string  // IP -> MAC
}

func newReservations(rs []Reservation) reservations {
	idx := reservations{byMAC: make(map[string]Reservation), byIP: make(map[netip.Addr]string)}
	for _, r := range rs {
		idx.byMAC[string(r.MAC)] = r
		idx.byIP[r.IP] = string(r.MAC)
	}
	return idx
}

// hostname is the name reserved for mac, or "".
func (idx reservations) hostname(mac string) string {
	return idx.byMAC[mac].Hostname
}
