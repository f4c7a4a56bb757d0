// Package bench measures ramfarm side by side with the peers the issues
// name (dnsmasq, ...) on this host, in network namespaces it creates and
// removes. Every figure comes from one run of both, so a noisy machine
// skews both alike.
package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
)

// Lab is two network namespaces joined by a veth pair: a server side and a
// client side. The veth is created inside the namespaces, so the host's own
// interfaces are never touched.
type Lab struct {
	Server, Client         string // namespace names
	ServerIf, ClientIf     string // interface names inside them
	ServerAddr, ClientAddr string // addresses with prefix, e.g. 10.80.0.1/16
}

// NewLab creates the namespaces and the link between them.
func NewLab(prefix, serverAddr, clientAddr string) (*Lab, error) {
	l := &Lab{
		Server: prefix + "-srv", Client: prefix + "-cli", ServerIf: "vs", ClientIf: "vc",
		ServerAddr: serverAddr, ClientAddr: clientAddr,
	}
	steps := [][]string{
		{"netns", "add", l.Server},
		{"netns", "add", l.Client},
		{"-n", l.Server, "link", "add", l.ServerIf, "type", "veth", "peer", "name", l.ClientIf, "netns", l.Client},
		{"-n", l.Server, "addr", "add", serverAddr, "dev", l.ServerIf},
		{"-n", l.Client, "addr", "add", clientAddr, "dev", l.ClientIf},
		{"-n", l.Server, "link", "set", l.ServerIf, "up"},
		{"-n", l.Client, "link", "set", l.ClientIf, "up"},
		{"-n", l.Server, "link", "set", "lo", "up"},
		{"-n", l.Client, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			l.Close()
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return l, nil
}

// ServerIP returns the server side's address without its prefix.
func (l *Lab) ServerIP() string { return strings.Split(l.ServerAddr, "/")[0] }

// ClientIP returns the client side's address without its prefix.
func (l *Lab) ClientIP() string { return strings.Split(l.ClientAddr, "/")[0] }

// In returns a command that runs inside namespace ns and dies with us.
func (l *Lab) In(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return inNetns(ctx, ns, name, args...)
}

// inNetns returns a command that runs inside namespace ns and dies with us
// (ip netns exec execs it in place, and the parent-death signal survives
// exec).
func inNetns(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Close kills whatever still runs in the namespaces and deletes them.
func (l *Lab) Close() error {
	var errs []error
	for _, ns := range []string{l.Server, l.Client} {
		if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
			for _, pid := range strings.Fields(string(out)) {
				var p int
				fmt.Sscan(pid, &p)
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such file") {
			errs = append(errs, fmt.Errorf("delete namespace %s: %v: %s", ns, err, out))
		}
	}
	return errors.Join(errs...)
}

// requireRoot fails early with a clear message.
func requireRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("benchmarks need root (network namespaces): run as root")
	}
	return nil
}

// startLab creates a fresh lab (prefix and our pid name its namespaces)
// with the given addresses and a new directory under workDir, and starts a
// server in it. stop stops the server and removes the lab.
func startLab(ctx context.Context, prefix, serverAddr, clientAddr, workDir string,
	start func(l *Lab, dir string) (*exec.Cmd, error)) (l *Lab, stop func(), err error) {
	l, err = NewLab(fmt.Sprintf("%s%d", prefix, os.Getpid()%100000), serverAddr, clientAddr)
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp(workDir, prefix+"-")
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	srv, err := start(l, dir)
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	return l, func() { stopProcess(srv); l.Close() }, nil
}

// serverSetup is where a benchmarked DHCP server runs and what it hands out.
type serverSetup struct {
	NS, Iface   string // namespace, and the interface in it the server serves
	First, Last string // the address range handed out
	Mask        string // its netmask, e.g. 255.255.0.0 (dnsmasq wants it for relayed subnets)
	Dir         string // state, lease file and log
	Extra       []string
}

// startDnsmasq runs dnsmasq as every benchmark does: DHCP only on the
// server's interface, DNS off, no config file but the flags given here,
// leases on disk, authoritative (it is the only server on the link), and no
// ping before an offer (ramfarm does not ping either). s.Extra adds the boot
// options of the benchmark at hand.
func startDnsmasq(ctx context.Context, s serverSetup) (*exec.Cmd, error) {
	args := append([]string{"--no-daemon", "--port=0", "--conf-file=/dev/null",
		"--interface=" + s.Iface, "--bind-interfaces",
		fmt.Sprintf("--dhcp-range=%s,%s,%s,1h", s.First, s.Last, s.Mask),
		"--dhcp-lease-max=100000", "--dhcp-authoritative", "--no-ping", "--quiet-dhcp",
		"--dhcp-leasefile=" + filepath.Join(s.Dir, "dnsmasq.leases"), "--log-facility=-"}, s.Extra...)
	cmd := inNetns(ctx, s.NS, "dnsmasq", args...)
	log, err := os.Create(filepath.Join(s.Dir, "dnsmasq.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitUDP(ctx, s.NS, 67); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		b, _ := os.ReadFile(log.Name())
		return nil, fmt.Errorf("dnsmasq did not start: %w\n%s", err, b)
	}
	return cmd, nil
}

// startRamfarm runs `ramfarm serve` booting nodes on s.Iface, with its
// state, API socket and log in s.Dir, and waits for its API. s.Extra is
// appended to the flags (a later flag wins).
func startRamfarm(ctx context.Context, bin, images string, s serverSetup) (*exec.Cmd, *api.Client, error) {
	socket := filepath.Join(s.Dir, "api.sock")
	args := append([]string{"serve",
		"--interface", s.Iface, "--dhcp-range", s.First + "-" + s.Last,
		"--boot-dir", images, "--state-dir", s.Dir, "--api-socket", socket,
		"--metrics-addr", "", "--log-level", "error"}, s.Extra...)
	return startRamfarmArgs(ctx, bin, s.NS, s.Dir, args)
}

// startRamfarmArgs starts the ramfarm binary with args in namespace ns,
// logging to dir/ramfarm.log, and waits for the API socket in dir.
func startRamfarmArgs(ctx context.Context, bin, ns, dir string, args []string) (*exec.Cmd, *api.Client, error) {
	cmd := inNetns(ctx, ns, bin, args...)
	log, err := os.Create(filepath.Join(dir, "ramfarm.log"))
	if err != nil {
		return nil, nil, err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	client := api.NewClient(filepath.Join(dir, "api.sock"))
	if err := waitAPI(ctx, client); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		b, _ := os.ReadFile(log.Name())
		return nil, nil, fmt.Errorf("ramfarm serve did not start: %w\n%s", err, b)
	}
	return cmd, client, nil
}

// stopProcess kills a server the benchmark started and reaps it.
func stopProcess(cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait()
}

// waitUDP waits until something listens on a UDP port in namespace ns.
func waitUDP(ctx context.Context, ns string, port int) error {
	want := fmt.Sprintf(":%d ", port)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, _ := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "ss", "-uln").Output()
		if strings.Contains(string(out), want) {
			return nil
		}
	}
	return fmt.Errorf("nothing listens on UDP %d after 10 s", port)
}
