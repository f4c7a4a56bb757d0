package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// peerNamespace is a network namespace for the batch-system peers of the
// dispatch benchmark. Work Queue's master and Slurm's daemons listen on
// every address of their host, on fixed or first-free ports: inside their
// own namespace nothing they open is reachable from outside it and they
// cannot collide with other services on this host.
type peerNamespace struct {
	name string
}

// peerNamespaceAddr is on a veth pair that lives wholly inside the
// namespace and leads nowhere. It exists because glibc's getaddrinfo with
// AI_ADDRCONFIG (Slurm uses it) resolves no IPv4 name at all, not even
// localhost, on a host whose only IPv4 address is on lo.
const peerNamespaceAddr = "10.253.0.1/30"

func newPeerNamespace() (*peerNamespace, error) {
	ns := &peerNamespace{name: fmt.Sprintf("rfdisp%d", os.Getpid()%100000)}
	steps := [][]string{
		{"netns", "add", ns.name},
		{"-n", ns.name, "link", "set", "lo", "up"},
		{"-n", ns.name, "link", "add", "v0", "type", "veth", "peer", "name", "v1"},
		{"-n", ns.name, "addr", "add", peerNamespaceAddr, "dev", "v0"},
		{"-n", ns.name, "link", "set", "v0", "up"},
		{"-n", ns.name, "link", "set", "v1", "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			ns.close()
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return ns, nil
}

// close kills whatever still runs in the namespace, which the benchmark
// created, so all of it is ours: slurmstepd, for one, leaves its parent's
// process group. Then it removes the namespace.
func (ns *peerNamespace) close() {
	out, _ := exec.Command("ip", "netns", "pids", ns.name).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	exec.Command("ip", "netns", "del", ns.name).Run()
}

// command runs name in the namespace. It enters the namespace with nsenter
// rather than `ip netns exec`, which remounts /sys and so hides the cgroup
// file systems that slurmd insists on finding. The command gets its own
// process group, so that stop also kills what it forked (slurmstepd,
// slurmscriptd), and dies with the benchmark.
func (ns *peerNamespace) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + ns.name, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// daemon is a long-running peer process with its output in a log file.
type daemon struct {
	cmd *exec.Cmd
	log string
}

// startDaemon starts cmd with its stderr, and its stdout unless the caller
// reads it, in logPath.
func startDaemon(cmd *exec.Cmd, logPath string) (*daemon, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy
	if cmd.Stdout == nil {
		cmd.Stdout = f
	}
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Args, err)
	}
	return &daemon{cmd: cmd, log: logPath}, nil
}

// stop kills the daemon and, if it leads one, its process group, and
// reaps it. (Until it is reaped its pid, hence its group id, cannot be
// reused by anyone else.)
func (d *daemon) stop() {
	d.cmd.Process.Kill()
	syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	d.cmd.Wait()
}

// logTail is the end of the daemon's log, for error messages.
func (d *daemon) logTail() string {
	b, _ := os.ReadFile(d.log)
	return tail(string(b), 800)
}

// stopAll stops daemons in reverse order of start.
func stopAll(ds []*daemon) {
	for i := len(ds) - 1; i >= 0; i-- {
		ds[i].stop()
	}
}

// pollUntil calls done every period until it reports true, fails, or the
// deadline or ctx ends; what names what is awaited in the error.
func pollUntil(ctx context.Context, what string, period, deadline time.Duration, done func() (bool, error)) error {
	end := time.Now().Add(deadline)
	for {
		ok, err := done()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("%s: not after %s", what, deadline)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(period):
		}
	}
}
