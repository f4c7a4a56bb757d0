package qemutests

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/ramfarm/ramfarm/initramfs"
	"github.com/ramfarm/ramfarm/qemu-tests/cluster"
	"github.com/ramfarm/ramfarm/qemu-tests/vm"
)

// TestProxyDHCP boots a node on a network whose DHCP server is not ours:
// dnsmasq (the site's server) leases the address and says nothing about
// booting, the dispatcher runs with --dhcp-mode proxy and only tells the
// node what to boot. The node is SeaBIOS with the iPXE ROM, the common
// case. The test checks who did what on the wire, in dnsmasq's lease file
// and in both logs, then runs a task on the node.
func TestProxyDHCP(t *testing.T) {
	env := prepare(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	o := bootOneNode(t, ctx, cluster.Config{
		Name: fmt.Sprintf("rfproxy%d", os.Getpid()%100000), RamfarmBin: env.ramfarm,
		ImagesDir: env.images, ProxyDHCP: true, WorkDir: t.TempDir(),
		Nodes: []cluster.NodeSpec{{CPUs: 1, MemoryMB: 512, NIC: "e1000"}},
	})
	c, node := o.c, o.node
	mac := cluster.MAC(0).String()

	// The address: dnsmasq's, and only dnsmasq's.
	leases, err := c.SiteLeases()
	if err != nil {
		t.Fatal(err)
	}
	leased := false
	for _, l := range leases {
		leased = leased || (l.MAC.String() == mac && l.Addr.String() == node.IP)
	}
	if !leased {
		t.Errorf("dnsmasq's lease file has no lease of %s to %s: %v", node.IP, mac, leases)
	}
	if !strings.Contains(c.SiteDHCPLog(), "DHCPACK(br0) "+node.IP+" "+mac) {
		t.Errorf("dnsmasq logged no DHCPACK of %s to %s", node.IP, mac)
	}
	log := c.DispatcherLog()
	if logHasLine(log, `msg="DHCP lease"`) || logHasLine(log, `msg="DHCP offer"`) {
		t.Errorf("the dispatcher offered or leased an address in proxy mode")
	}

	// What to boot: the dispatcher's.
	if !logHasLine(log, `msg="ProxyDHCP offer"`, "mac="+mac, "/boot.ipxe") {
		t.Errorf("dispatcher log: no ProxyDHCP offer of the script to %s", mac)
	}
	assertProxyReplies(t, o.packets(t), mac)
	peer := "peer=" + node.IP + ":"
	for _, path := range []string{"/boot.ipxe", "/boot/vmlinuz", "/boot/" + initramfs.InitrdName} {
		if !logHasLine(log, `msg="HTTP request"`, "path="+path+" ", peer) {
			t.Errorf("dispatcher log: %s did not fetch %s", node.IP, path)
		}
	}
	o.runOneTask(t, ctx)
	o.tearDown(t)
	if !t.Failed() {
		fmt.Printf("proxy: address %s from dnsmasq, boot from ramfarm's ProxyDHCP; registered %.1f s after power-on\n",
			node.IP, o.bootSeconds)
	}
}

// assertProxyReplies checks the replies to mac on the wire: those that
// hand out an address (dnsmasq's) name nothing to boot, and a ProxyDHCP
// reply (no address) names the script.
func assertProxyReplies(t *testing.T, packets []vm.DHCPPacket, mac string) {
	t.Helper()
	addressed, proxied := 0, 0
	for _, p := range packets {
		m := p.Msg
		if m.OpCode != dhcpv4.OpcodeBootReply || m.ClientHWAddr.String() != mac {
			continue
		}
		if !m.YourIPAddr.IsUnspecified() {
			addressed++
			if m.BootFileName != "" || m.Options.Has(dhcpv4.OptionBootfileName) {
				t.Errorf("a reply with an address also names a boot file: %s", m.Summary())
			}
		} else if strings.Contains(m.BootFileName, "/boot.ipxe") {
			proxied++
		}
	}
	if addressed == 0 || proxied == 0 {
		t.Errorf("on the wire to %s: %d replies with an address, %d ProxyDHCP replies naming the script; want both", mac, addressed, proxied)
		for _, p := range packets {
			t.Logf("%s -> %s: %s", p.Src, p.Dst, p.Msg.Summary())
		}
	}
}
