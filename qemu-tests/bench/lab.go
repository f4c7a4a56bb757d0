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
	"strings"
	"syscall"
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
