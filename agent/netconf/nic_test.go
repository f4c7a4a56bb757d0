package netconf

import (
	"net"
	"slices"
	"testing"
)

func TestCandidates(t *testing.T) {
	mac := func(last byte) net.HardwareAddr { return net.HardwareAddr{0x52, 0x54, 0, 0, 0, last} }
	lo := nic{name: "lo", index: 1, mac: net.HardwareAddr{0, 0, 0, 0, 0, 0}}
	eth0 := nic{name: "eth0", index: 2, mac: mac(0), ethernet: true}
	eth1 := nic{name: "eth1", index: 3, mac: mac(1), ethernet: true}
	ipip := nic{name: "tunl0", index: 4}
	all := []nic{eth1, ipip, lo, eth0} // not in index order

	tests := []struct {
		name      string
		want      net.HardwareAddr
		wantNICs  []string
		wantFound bool
	}{
		{"no BOOTIF: every Ethernet NIC by index", nil, []string{"eth0", "eth1"}, false},
		{"BOOTIF found: only that NIC", mac(1), []string{"eth1"}, true},
		{"BOOTIF not found: every Ethernet NIC", mac(9), []string{"eth0", "eth1"}, false},
		{"BOOTIF of a non-Ethernet NIC is not found", lo.mac, []string{"eth0", "eth1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nics, found := candidates(all, tt.want)
			var got []string
			for _, n := range nics {
				got = append(got, n.name)
			}
			if !slices.Equal(got, tt.wantNICs) || found != tt.wantFound {
				t.Errorf("candidates = %v, found %v; want %v, found %v", got, found, tt.wantNICs, tt.wantFound)
			}
		})
	}
	if nics, _ := candidates([]nic{lo, ipip}, nil); len(nics) != 0 {
		t.Errorf("candidates without Ethernet NICs = %v, want none", nics)
	}
}
