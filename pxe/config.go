package pxe

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config describes the network the server boots nodes on: the subnet on
// Interface, and any subnets behind DHCP relay agents.
type Config struct {
	// Interface, e.g. "br0", is where the nodes are: DHCP broadcasts are
	// answered only if they came in here (see dhcp_conn.go), and replies
	// to them go out here.
	Interface string
	ServerIP  netip.Addr   // our IPv4 on that interface: server identifier, siaddr/next-server, TFTP and HTTP host
	Subnet    netip.Prefix // e.g. 10.77.0.0/24 (netmask option 1)
	Router    netip.Addr   // optional option 3
	DNS       []netip.Addr // optional option 6, for every subnet

	// DHCPMode: DHCPFull (the zero value) hands out addresses; DHCPProxy
	// leaves them to another DHCP server and only tells netboot firmware
	// what to boot, so the address settings below must stay empty.
	DHCPMode DHCPMode

	// Ranges are the addresses handed out on Subnet: each inside it, none
	// overlapping another, none including ServerIP or Router.
	Ranges []Range
	// Reservations tie clients to addresses: see Reservation.
	Reservations []Reservation
	// RelaySubnets are served through relay agents; see RelaySubnet.
	RelaySubnets []RelaySubnet

	LeaseTime time.Duration // option 51 (default 1h); T1/T2 (options 58/59) are 50% and 87.5% of it

	// Leases keeps leases across restarts; nil keeps them in memory only,
	// so that after a restart the server knows only what clients renew.
	Leases LeaseStore

	TFTPAddr string // listen address for TFTP (default "<ServerIP>:69", the port firmware asks)
	TFTPRoot string // dir holding iPXE binaries: undionly.kpxe, ipxe.efi, snponly.efi (Debian's /usr/lib/ipxe)
	HTTPAddr string // listen address for boot HTTP (default "<ServerIP>:80"); its port goes into the boot URLs

	BootDir string // dir served read-only under /boot/ (kernel, initramfs)
	Kernel  string // file name of the kernel inside BootDir
	Initrd  string // file name of the initramfs inside BootDir
	Cmdline string // kernel command line for nodes

	// Profiles picks each node's kernel, initramfs and command line by its
	// MAC (see BootPolicy, LoadProfiles); nil boots every node with
	// Kernel, Initrd and Cmdline, as the "default" profile.
	Profiles BootPolicy
	// ExtraCmdline follows every profile's command line: the dispatcher
	// puts its address and the node token there.
	ExtraCmdline string

	// AnswerRouterSolicitations: answer IPv6 Router Solicitations on
	// Interface with a Router Advertisement saying "no router here"
	// (router lifetime 0, no prefixes, M=O=0), which ends iPXE's ~15 s
	// IPv6 autoconfiguration wait on networks without an IPv6 router.
	// Harmless to other hosts: lifetime 0 makes no one use us as a router
	// and no prefix means no addresses. Leave it off on a link that has a
	// real IPv6 router: iPXE heeds only the first advertisement it gets,
	// so ours could hide that router's. See ra.go.
	AnswerRouterSolicitations bool

	Hostname func(mac net.HardwareAddr) string // option 12 for a client; nil => "node-aabbccddeeff"
	Logger   *slog.Logger                      // nil => slog.Default()
}

const defaultLeaseTime = time.Hour

// Validate checks c and fills in the defaults of the fields left empty. It
// reports every problem it finds, not just the first.
func (c *Config) Validate() error {
	if c.LeaseTime == 0 {
		c.LeaseTime = defaultLeaseTime
	}
	if c.TFTPAddr == "" && c.ServerIP.Is4() {
		c.TFTPAddr = netip.AddrPortFrom(c.ServerIP, 69).String()
	}
	if c.HTTPAddr == "" && c.ServerIP.Is4() {
		c.HTTPAddr = netip.AddrPortFrom(c.ServerIP, 80).String()
	}
	if c.Hostname == nil {
		c.Hostname = defaultHostname
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Subnet = c.Subnet.Masked()

	var p problems
	check := p.check
	check(c.Interface != "", "Interface is empty")
	check(isHostPrefix(c.Subnet), "Subnet %v is not an IPv4 prefix with room for hosts (/30 or larger)", c.Subnet)
	check(isHostIn(c.Subnet, c.ServerIP), "ServerIP %v is not a host address in Subnet %v", c.ServerIP, c.Subnet)
	check(!c.Router.IsValid() || isHostIn(c.Subnet, c.Router), "Router %v is not a host address in Subnet %v", c.Router, c.Subnet)
	for _, dns := range c.DNS {
		check(dns.Is4(), "DNS server %v is not an IPv4 address", dns)
	}
	check(c.DHCPMode < numDHCPModes, "DHCPMode %v is neither DHCPFull nor DHCPProxy", c.DHCPMode)
	if c.DHCPMode == DHCPProxy {
		c.checkProxyPlan(&p)
	} else {
		c.checkAddressPlan(&p)
	}
	check(c.LeaseTime >= time.Second && c.LeaseTime.Seconds() <= math.MaxUint32,
		"LeaseTime %v is outside 1s..136y (DHCP counts it in 32-bit seconds)", c.LeaseTime)
	_, err := netip.ParseAddrPort(c.TFTPAddr)
	check(err == nil, "TFTPAddr %q: %v", c.TFTPAddr, err)
	_, err = c.httpPort()
	check(err == nil, "HTTPAddr %q: %v", c.HTTPAddr, err)
	check(c.TFTPRoot != "", "TFTPRoot is empty")
	check(c.BootDir != "", "BootDir is empty")
	check(isBootFileName(c.Kernel), "Kernel %q is not a plain relative file name (letters, digits, . _ - + /)", c.Kernel)
	check(isBootFileName(c.Initrd), "Initrd %q is not a plain relative file name (letters, digits, . _ - + /)", c.Initrd)
	// The command line becomes one line of the iPXE script.
	check(!strings.ContainsFunc(c.Cmdline, isControl), "Cmdline contains a line break or control character")
	c.checkProfiles(&p)
	return errors.Join(p...)
}

// problems collects what Validate finds wrong.
type problems []error

func (p *problems) check(ok bool, format string, args ...any) {
	if !ok {
		*p = append(*p, fmt.Errorf(format, args...))
	}
}

// httpPort is the port of HTTPAddr, the one boot URLs name.
func (c *Config) httpPort() (uint16, error) {
	_, port, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port %q is not a number in 1..65535 (boot URLs need a fixed port)", port)
	}
	return uint16(n), nil
}

// isHostPrefix reports whether p is an IPv4 subnet with room for hosts.
func isHostPrefix(p netip.Prefix) bool {
	return p.IsValid() && p.Addr().Is4() && p.Bits() <= 30
}

// isHostIn reports whether a is an address in p a client can use: neither
// the network nor the broadcast address.
func isHostIn(p netip.Prefix, a netip.Addr) bool {
	if !a.Is4() || !p.Contains(a) {
		return false
	}
	return a != p.Masked().Addr() && a != broadcastAddr(p)
}

func broadcastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	for bit := p.Bits(); bit < 32; bit++ {
		a[bit/8] |= 0x80 >> (bit % 8)
	}
	return netip.AddrFrom4(a)
}

// isBootFileName accepts the names Kernel and Initrd may have. They end up in
// URLs and, unquoted, in the kernel command line (initrd=NAME), so spaces and
// anything that needs escaping are refused rather than escaped.
func isBootFileName(name string) bool {
	if !filepath.IsLocal(name) || strings.HasSuffix(name, "/") {
		return false
	}
	for _, r := range name {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case strings.ContainsRune("._-+/", r):
		default:
			return false
		}
	}
	return true
}

func isControl(r rune) bool { return r < ' ' || r == 0x7f }

// defaultHostname names a node after its MAC: "node-525400123456".
func defaultHostname(mac net.HardwareAddr) string {
	return "node-" + strings.ReplaceAll(mac.String(), ":", "")
}
