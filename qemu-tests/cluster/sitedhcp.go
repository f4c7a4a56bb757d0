package cluster

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ramfarm/ramfarm/qemu-tests/vm"
)

// The site's own DHCP server in ProxyDHCP clusters hands out addresses from
// a range the dispatcher's full mode never uses, so an address tells who
// leased it.
var (
	siteRangeFirst = netip.MustParseAddr("10.77.0.50")
	siteRangeLast  = netip.MustParseAddr("10.77.0.99")
)

// siteDHCP is dnsmasq playing a site's existing DHCP server: it gives
// addresses and nothing to boot, as the DHCP server of a network ramfarm
// does not own would.
type siteDHCP struct {
	cmd       *exec.Cmd
	exited    chan struct{}
	log       *vm.OutputBuffer
	leaseFile string
}

// startSiteDHCP starts dnsmasq on the bridge of network (whose namespace is
// called name) and returns once it serves DHCP.
func startSiteDHCP(ctx context.Context, network *vm.Net, name, workDir string) (*siteDHCP, error) {
	s := &siteDHCP{
		log: &vm.OutputBuffer{},
		// Named after the namespace: that is how vm.Leftovers spots a
		// dnsmasq left running.
		leaseFile: filepath.Join(workDir, name+"-dnsmasq.leases"),
	}
	s.cmd = network.Command(context.Background(), "dnsmasq",
		"--no-daemon",           // stay in the foreground, as our child, logging to stderr
		"--conf-file=/dev/null", // not the host's /etc/dnsmasq.conf
		"--port=0",              // no DNS: DHCP only
		"--interface=br0", "--bind-interfaces",
		"--dhcp-range="+siteRangeFirst.String()+","+siteRangeLast.String()+",255.255.255.0,1h",
		"--dhcp-leasefile="+s.leaseFile,
		// No --dhcp-boot, --pxe-service or --enable-tftp: dnsmasq then
		// sends no file name, server name or PXE options (43, 66, 67),
		// so all a node learns about booting comes from the dispatcher's
		// ProxyDHCP. It still puts its own address in siaddr (next
		// server), as many site DHCP servers do.
		"--no-ping", // no ICMP probe of each address before offering it: it delays the offer, and this link has nobody to collide with
		"--log-dhcp", "--log-facility=-",
	)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dnsmasq (apt-get install dnsmasq-base): %w", err)
	}
	s.exited = make(chan struct{})
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	// dnsmasq logs its range once its DHCP socket is bound.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(s.log.String(), "DHCP, IP range"); {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("dnsmasq exited at start:\n%s", s.log.String())
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("dnsmasq not serving after 30s:\n%s", s.log.String())
		}
	}
	return s, nil
}

// stop ends dnsmasq and waits for it. It is idempotent.
func (s *siteDHCP) stop() { terminate(s.cmd, s.exited, 5*time.Second) }

// SiteLease is one line of dnsmasq's lease file.
type SiteLease struct {
	MAC  net.HardwareAddr
	Addr netip.Addr
}

// leases reads dnsmasq's lease file: "expiry mac ip hostname client-id" per
// line. dnsmasq rewrites it after every lease change.
func (s *siteDHCP) leases() ([]SiteLease, error) {
	b, err := os.ReadFile(s.leaseFile)
	if err != nil {
		return nil, err
	}
	var out []SiteLease
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue // dnsmasq's "duid" line has two fields
		}
		mac, err1 := net.ParseMAC(f[1])
		addr, err2 := netip.ParseAddr(f[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: bad lease line %q", s.leaseFile, strings.TrimSpace(line))
		}
		out = append(out, SiteLease{MAC: mac, Addr: addr})
	}
	return out, nil
}
