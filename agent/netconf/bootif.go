package netconf

import (
	"net"
	"strings"
)

// parseBootif parses the MAC in a BOOTIF kernel parameter. iPXE and
// pxelinux write it as the ARP hardware type and the MAC, dash-separated:
// "01-52-54-00-12-34-56" (01 is Ethernet). A plain MAC is accepted too.
// An empty bootif gives a nil MAC.
func parseBootif(bootif string) (net.HardwareAddr, error) {
	if bootif == "" {
		return nil, nil
	}
	if hwType, mac, ok := strings.Cut(bootif, "-"); ok && hwType == "01" && strings.Count(mac, "-") == 5 {
		bootif = mac
	}
	mac, err := net.ParseMAC(bootif)
	if err != nil {
		return nil, err
	}
	if len(mac) != 6 {
		return nil, &net.AddrError{Err: "not an Ethernet MAC", Addr: bootif}
	}
	if mac[0]&1 != 0 {
		// No NIC has a multicast MAC: this is most likely a BOOTIF
		// missing an octet, "01-" plus five.
		return nil, &net.AddrError{Err: "multicast MAC", Addr: bootif}
	}
	return mac, nil
}
