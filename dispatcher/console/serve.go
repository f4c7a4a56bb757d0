package console

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher"
	"github.com/ramfarm/ramfarm/pxe"
)

func serve(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: ramfarm serve [flags]

Runs the dispatcher. On --interface it answers DHCP (handing out addresses from
--dhcp-range), serves iPXE binaries over TFTP and the kernel, initramfs and
iPXE script over HTTP, so that machines on that network boot into the ramfarm
node image from --boot-dir. Their agents connect back on --agent-port, prove
they know the node enrollment token (created in --state-dir on first start
and passed to nodes on their kernel command line), and ask for work.

On a network that already has a DHCP server, use --dhcp-mode proxy: that
server keeps handing out the addresses, and ramfarm answers only machines
that boot from the network, only with what to boot (ProxyDHCP, UDP ports 67
and 4011). The site server must then send no boot options of its own (no
boot file, next-server, option 43 or vendor class "PXEClient"), or the
machines boot what it says.

Tasks and results live in --state-dir/ramfarm.db: a task is on disk before
"submit" returns and a result before the agent is told it may forget it, so
killing the dispatcher loses neither.

The control API listens on --api-socket, a Unix socket only root can open:
use "ramfarm nodes", "ramfarm submit" and friends to steer the dispatcher.

Every flag can also be set in the --config file, one "name = value" per line
("#" starts a comment); flags on the command line win.

Flags:
`)
		fs.PrintDefaults()
	}
	configFile := fs.String("config", "", "read flag values from this `file`")
	iface := fs.String("interface", "", "network `interface` to boot nodes on (DHCP, TFTP and HTTP listen there)")
	address := fs.String("address", "", "dispatcher's address on --interface as `ip/prefix` (default: the interface's first IPv4 address)")
	var dhcpMode pxe.DHCPMode
	fs.Var(&dhcpMode, "dhcp-mode", "`full|proxy` (default full): full makes ramfarm the DHCP server of --interface, handing out --dhcp-range; proxy is for a network whose own DHCP server owns the addresses: nodes get theirs from it and what to boot from ramfarm (--dhcp-range, --reserve, --router and --lease-time are then refused)")
	dhcpRange := fs.String("dhcp-range", "", "addresses handed to nodes, `first-last[,first-last...]` (default: the upper half of the subnet)")
	var reservations reservationFlag
	fs.Var(&reservations, "reserve", "give a node a fixed address: `MAC=IP[,hostname]` (repeatable; in a config file, one reserve line each)")
	router := fs.String("router", "", "default gateway `ip` handed to nodes (default: none)")
	leaseTime := fs.Duration("lease-time", time.Hour, "DHCP lease time")
	bootDir := fs.String("boot-dir", "images", "`directory` with the node kernel and initramfs (see `make image`)")
	kernel := fs.String("kernel", "vmlinuz", "kernel file `name` in --boot-dir")
	// The name `make image` gives the minimal image (initramfs.InitrdName;
	// not imported, to keep the image builder out of this binary).
	initrd := fs.String("initrd", "ramfarm-node.cpio.lz4", "initramfs file `name` in --boot-dir")
	cmdline := fs.String("cmdline", "console=ttyS0 console=tty0 quiet", "kernel command line for nodes (the dispatcher adds its address and the token)")
	bootProfiles := fs.String("boot-profiles", "", "`file` of boot profiles: which kernel, initramfs and command line each node boots, by MAC or group (docs/operations.md); --kernel, --initrd and --cmdline are the profile \"default\" unless the file defines it")
	ipxeDir := fs.String("ipxe-dir", "/usr/lib/ipxe", "`directory` with iPXE binaries for PXE firmware (Debian's ipxe package)")
	httpPort := fs.Int("http-port", 8080, "boot HTTP `port` on the interface address")
	tftpPort := fs.Int("tftp-port", 69, "TFTP `port` on the interface address")
	answerRS := fs.Bool("answer-router-solicitations", true, "answer IPv6 router solicitations on --interface with \"no router here\": iPXE otherwise waits ~15 s per boot for an IPv6 router; turn off if the network has a real IPv6 router")
	noPXE := fs.Bool("no-pxe", false, "do not boot nodes: only serve agents that find the dispatcher by other means")
	agentAddr := fs.String("agent-addr", ":7070", "`host:port` agents connect to (empty host: the --interface address, or all addresses with --no-pxe)")
	stateDir := fs.String("state-dir", "/var/lib/ramfarm", "`directory` for the database and the node token")
	apiSocket := fs.String("api-socket", DefaultAPISocket, "control API Unix socket `path`")
	metricsAddr := fs.String("metrics-addr", "127.0.0.1:9470", "serve Prometheus metrics at http://`host:port`/metrics (empty: off; loopback by default, so not on the LAN by accident)")
	heartbeat := fs.Duration("heartbeat", 5*time.Second, "agent heartbeat period; a node silent for 3 periods is lost and its tasks run elsewhere")
	window := fs.Int("window", 1024, "tasks in the circular task list at once")
	maxQueued := fs.Int("max-queued", dispatcher.DefaultMaxQueued, "refuse submissions (HTTP 503, retry later) while this many tasks wait for a result; a queued task costs about 50 bytes of memory")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *configFile != "" {
		if err := applyConfigFile(fs, *configFile); err != nil {
			return err
		}
	}

	log, err := newLogger(*logLevel, *logJSON)
	if err != nil {
		return err
	}
	cfg := dispatcher.Config{
		StateDir: *stateDir, APISocket: *apiSocket, AgentAddr: *agentAddr, MetricsAddr: *metricsAddr,
		Heartbeat: *heartbeat, Window: *window, MaxQueued: *maxQueued, Logger: log,
	}
	if !*noPXE {
		if *iface == "" {
			return fmt.Errorf("--interface is required to boot nodes (or --no-pxe)")
		}
		prefix, err := interfaceAddress(*iface, *address)
		if err != nil {
			return err
		}
		var ranges []pxe.Range
		if dhcpMode == pxe.DHCPProxy {
			err = refuseAddressFlags(fs)
		} else {
			ranges, err = parseRanges(*dhcpRange, prefix)
		}
		if err != nil {
			return err
		}
		p := &pxe.Config{
			Interface: *iface, ServerIP: prefix.Addr(), Subnet: prefix.Masked(), DHCPMode: dhcpMode,
			Ranges: ranges, Reservations: reservations, LeaseTime: *leaseTime,
			TFTPAddr: netip.AddrPortFrom(prefix.Addr(), uint16(*tftpPort)).String(), TFTPRoot: *ipxeDir,
			HTTPAddr: netip.AddrPortFrom(prefix.Addr(), uint16(*httpPort)).String(),
			BootDir:  *bootDir, Kernel: *kernel, Initrd: *initrd, Cmdline: *cmdline,
			AnswerRouterSolicitations: *answerRS,
			Logger:                    log.With("component", "pxe"),
		}
		if *router != "" {
			if p.Router, err = netip.ParseAddr(*router); err != nil {
				return fmt.Errorf("--router: %v", err)
			}
		}
		if *bootProfiles != "" {
			fallback := pxe.Profile{Kernel: *kernel, Initrd: *initrd, Cmdline: *cmdline}
			if p.Profiles, err = pxe.LoadProfiles(*bootProfiles, fallback); err != nil {
				return err
			}
		}
		cfg.PXE = p
	}
	d, err := dispatcher.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return d.Run(ctx)
}

// applyConfigFile sets, from "name = value" lines, the flags that were not
// given on the command line.
func applyConfigFile(fs *flag.FlagSet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for i, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.Trim(strings.TrimSpace(value), `"`)
		if !ok || name == "" {
			return fmt.Errorf("%s:%d: want name = value, got %q", path, i+1, line)
		}
		if fs.Lookup(name) == nil || name == "config" {
			return fmt.Errorf("%s:%d: unknown setting %q (settings are the flags of `ramfarm serve --help`)", path, i+1, name)
		}
		if given[name] {
			continue
		}
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("%s:%d: %s: %v", path, i+1, name, err)
		}
	}
	return nil
}

// addressFlags are the flags about handing out addresses, which a ProxyDHCP
// server leaves to the network's own DHCP server.
var addressFlags = []string{"dhcp-range", "reserve", "router", "lease-time"}

// refuseAddressFlags says which addressFlags were given, on the command
// line or in the config file, if any: in proxy mode they would do nothing.
func refuseAddressFlags(fs *flag.FlagSet) error {
	var given []string
	fs.Visit(func(f *flag.Flag) {
		if slices.Contains(addressFlags, f.Name) {
			given = append(given, "--"+f.Name)
		}
	})
	if len(given) > 0 {
		return fmt.Errorf("%s given with --dhcp-mode proxy: in proxy mode the network's own DHCP server hands out the addresses, so set ranges, reservations, router and lease time there", strings.Join(given, ", "))
	}
	return nil
}

// interfaceAddress returns explicit (ip/prefix) if given, else the first
// IPv4 address of the interface.
func interfaceAddress(name, explicit string) (netip.Prefix, error) {
	if explicit != "" {
		p, err := netip.ParsePrefix(explicit)
		if err != nil || !p.Addr().Is4() {
			return netip.Prefix{}, fmt.Errorf("--address %q: want an IPv4 address with prefix, like 10.77.0.1/24", explicit)
		}
		return p, nil
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("interface %s: %w", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("interface %s: %w", name, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			ip, _ := netip.AddrFromSlice(ipn.IP.To4())
			ones, _ := ipn.Mask.Size()
			return netip.PrefixFrom(ip, ones), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("interface %s has no IPv4 address: give it one or pass --address", name)
}

// parseRanges parses "first-last[,first-last...]", or picks the upper half
// of the subnet.
func parseRanges(s string, subnet netip.Prefix) ([]pxe.Range, error) {
	if s == "" {
		first, last, err := upperHalf(subnet)
		return []pxe.Range{{Start: first, End: last}}, err
	}
	var out []pxe.Range
	for _, part := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(part, "-")
		first, err1 := netip.ParseAddr(strings.TrimSpace(a))
		last, err2 := netip.ParseAddr(strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("--dhcp-range %q: want first-last, like 10.77.0.100-10.77.0.200", part)
		}
		out = append(out, pxe.Range{Start: first, End: last})
	}
	return out, nil
}

// reservationFlag collects --reserve MAC=IP[,hostname] values.
type reservationFlag []pxe.Reservation

func (r *reservationFlag) String() string { return fmt.Sprint(len(*r), " reservations") }

func (r *reservationFlag) Set(v string) error {
	mac, rest, ok := strings.Cut(v, "=")
	ip, host, _ := strings.Cut(rest, ",")
	hw, err1 := net.ParseMAC(strings.TrimSpace(mac))
	addr, err2 := netip.ParseAddr(strings.TrimSpace(ip))
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("want MAC=IP[,hostname], like 52:54:00:12:34:56=10.77.0.50,node-a")
	}
	*r = append(*r, pxe.Reservation{MAC: hw, IP: addr, Hostname: strings.TrimSpace(host)})
	return nil
}

func upperHalf(p netip.Prefix) (netip.Addr, netip.Addr, error) {
	bits := 32 - p.Bits()
	if bits < 3 {
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("subnet %v is too small to pick a DHCP range: pass --dhcp-range", p)
	}
	base := p.Masked().Addr().As4()
	n := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	size := uint32(1) << bits
	return u32addr(n + size/2), u32addr(n + size - 2), nil
}

func u32addr(n uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

func newLogger(level string, asJSON bool) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	if asJSON {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
}
