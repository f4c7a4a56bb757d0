package pxe

import "net"

// These write to the LeaseStore, if there is one. They run under the
// client's lock but not the pool's: a durable write takes a while, and a
// store group-commits the writes of requests in flight together, which only
// works if other clients' requests go on meanwhile.

func (h *dhcpHandler) saveLease(l Lease) error {
	if h.store == nil {
		return nil
	}
	return h.store.SaveLease(l)
}

func (h *dhcpHandler) deleteLease(mac net.HardwareAddr) error {
	if h.store == nil {
		return nil
	}
	return h.store.DeleteLease(mac)
}

// saveDecline records the declined address, then forgets the decliner's
// lease of it. In that order: should the second write fail, the address is
// still out of use after a restart (restore lets the declined record win).
func (h *dhcpHandler) saveDecline(decliner net.HardwareAddr, declined Lease) error {
	if err := h.saveLease(declined); err != nil {
		return err
	}
	return h.deleteLease(decliner)
}
