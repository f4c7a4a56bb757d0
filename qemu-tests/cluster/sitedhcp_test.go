package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/ramfarm/ramfarm/qemu-tests/vm"
)

// TestSiteDHCPGivesAddressesOnly starts the site DHCP server of ProxyDHCP
// clusters with no dispatcher and powers on a BIOS node: dnsmasq must lease
// it an address from the site range, say nothing about booting, write the
// lease to its file, and leave nothing behind.
func TestSiteDHCPGivesAddressesOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (network namespaces, tap devices)")
	}
	name := fmt.Sprintf("rf-sitetest-%d", os.Getpid())
	network, err := vm.NewNet(vm.NetConfig{Name: name, Bridge: "br0", Addr: dispatcherAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer network.Close()
	if err := network.AddTap("tap0"); err != nil {
		t.Fatal(err)
	}
	watch, err := network.WatchDHCP()
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	work := t.TempDir()
	site, err := startSiteDHCP(ctx, network, name, work)
	if err != nil {
		t.Fatal(err)
	}
	defer site.stop()
	node, err := vm.StartNode(ctx, vm.NodeConfig{
		Name: "node0", Net: network, Tap: "tap0", MAC: MAC(0), SerialLog: filepath.Join(work, "serial.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Stop()

	var lease SiteLease
	for lease.MAC == nil {
		leases, _ := site.leases() // absent until the first lease
		for _, l := range leases {
			if l.MAC.String() == MAC(0).String() {
				lease = l
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no lease for %s in %s: %v\ndnsmasq:\n%s\nserial:\n%s", MAC(0), site.leaseFile, ctx.Err(), site.log.String(), node.Log())
		case <-time.After(200 * time.Millisecond):
		}
	}
	if lease.Addr.Less(siteRangeFirst) || siteRangeLast.Less(lease.Addr) {
		t.Errorf("leased %s, outside the site range %s-%s", lease.Addr, siteRangeFirst, siteRangeLast)
	}
	if !strings.Contains(site.log.String(), "DHCPACK(br0) "+lease.Addr.String()+" "+MAC(0).String()) {
		t.Errorf("dnsmasq logged no DHCPACK for %s:\n%s", MAC(0), site.log.String())
	}

	packets, err := watch.Packets()
	if err != nil {
		t.Fatal(err)
	}
	replies := 0
	for _, p := range packets {
		m := p.Msg
		if m.OpCode != dhcpv4.OpcodeBootReply {
			continue
		}
		replies++
		// Not checked: siaddr (next server), which dnsmasq always fills
		// with its own address, as many site DHCP servers do; it means
		// nothing without a file name, and a ProxyDHCP offer overrides it.
		if m.BootFileName != "" || m.ServerHostName != "" ||
			m.Options.Has(dhcpv4.OptionBootfileName) || m.Options.Has(dhcpv4.OptionTFTPServerName) ||
			m.Options.Has(dhcpv4.OptionVendorSpecificInformation) {
			t.Errorf("dnsmasq reply carries boot information: %s", m.Summary())
		}
		if addr, _ := netip.AddrFromSlice(m.YourIPAddr.To4()); addr != lease.Addr {
			t.Errorf("reply for %s, want %s: %s", addr, lease.Addr, m.Summary())
		}
	}
	if replies == 0 {
		t.Errorf("watched no DHCP reply on the bridge (%d packets)", len(packets))
	}

	if err := node.Stop(); err != nil {
		t.Error(err)
	}
	site.stop()
	if err := network.Close(); err != nil {
		t.Fatal(err)
	}
	if left := vm.Leftovers(name); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}
