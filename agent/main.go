package agent

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/ramfarm/ramfarm/agent/cmdline"
	"github.com/ramfarm/ramfarm/agent/kmod"
	"github.com/ramfarm/ramfarm/agent/netconf"
	"github.com/ramfarm/ramfarm/agent/sysinit"
	"github.com/ramfarm/ramfarm/protocol"
)

// DefaultPort is the dispatcher's agent port when the boot command line
// names no dispatcher and the DHCP server is taken to be the dispatcher.
const DefaultPort = "7070"

// Main is the agent program. It has three faces:
//   - PID 1 in the node image: set up the machine and supervise the agent;
//   - the supervised child in the node image: bring up drivers and network
//     from the boot command line and DHCP, then serve the dispatcher;
//   - a plain process (tests, benchmarks, trying things out): configured by
//     flags, running tasks on the host it runs on.
func Main() {
	switch {
	case os.Getpid() == 1:
		sysinit.RunInit() // never returns
	case sysinit.IsChild():
		os.Exit(runOnNode())
	default:
		os.Exit(runAsProcess(os.Args[1:]))
	}
}

// runOnNode is the agent inside the node image.
func runOnNode() int {
	// The console (the serial line an admin may watch) and the dispatcher,
	// which keeps what the node said, get the same lines.
	console := NewConsoleLog()
	out := io.MultiWriter(os.Stderr, console.Writer("agent"))
	log := slog.New(uptimeHandler{slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo})}).With("agent", "ramfarm")
	go readKernelLog(console, log)
	boot, err := cmdline.Read()
	if err != nil {
		log.Error("read kernel command line", "err", err)
		return 1
	}
	if release, err := kernelRelease(); err == nil {
		loaded, err := kmod.LoadForDevices("/lib/modules/"+release, log)
		if err != nil {
			log.Warn("loading drivers", "err", err)
		}
		log.Info("drivers loaded", "modules", strings.Join(loaded, ","))
	}
	caPin := boot["ramfarm.ca"]
	if !protocol.ValidCAPin(caPin) {
		// Without it the agent cannot tell the dispatcher from an impostor.
		log.Error("kernel command line has no valid ramfarm.ca=sha256:<hex> (the dispatcher adds it; see `ramfarm serve` docs)", "got", caPin)
		return 1
	}
	// Task cgroups and workspaces need no network: they are set up while
	// DHCP runs, which saves their 50 ms of a boot of about 1.5 s (TCG).
	// Cgroups first: setting them up ends the tasks a crashed agent left,
	// which may still be using the workspaces mounted over next.
	type taskSetup struct {
		cgroups *taskCgroups
		err     error
	}
	setup := make(chan taskSetup, 1)
	go func() {
		cgroups := startTaskCgroups(nodeCgroups, nodeTaskPids(boot, log), log)
		setup <- taskSetup{cgroups, mountWorkspaces(nodeWorkspaces, nodeWorkspaceSize(boot, log))}
	}()
	// PID 1 stops the agent with SIGTERM when the node shuts down.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	lease, err := netconf.Up(ctx, boot["BOOTIF"], log)
	if err != nil {
		log.Error("network", "err", err)
		return 1
	}
	// netconf.Up has logged the lease; every console line costs boot time
	// under TCG (the emulated UART), so it is not repeated here.
	go netconf.Maintain(ctx, lease, log)
	dispatcher := boot["ramfarm.dispatcher"]
	if dispatcher == "" {
		dispatcher = net.JoinHostPort(lease.ServerID.String(), DefaultPort)
	}
	hostname := lease.Hostname
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	tasks := <-setup
	if tasks.err != nil {
		log.Error("task workspaces", "err", tasks.err)
		return 1
	}
	a := New(Config{
		Dispatcher: dispatcher, CAPin: caPin, Token: boot["ramfarm.token"], MAC: lease.MAC.String(),
		Hostname: hostname, IP: lease.Addr.Addr().String(), BootID: bootID(), Profile: nodeProfile(boot, log),
		Cores: runtime.NumCPU(), Memory: meminfo("MemTotal"), WorkDir: nodeWorkspaces,
		Prefetch: nodePrefetch(boot, log),
		Cgroups:  tasks.cgroups, SetClock: stepClock, Reboot: sysinit.Reboot, Kexec: kexecInto(ctx), Console: console, Logger: log,
	})
	return exitCode(a.Run(ctx))
}

// runAsProcess is the agent as an ordinary program on a host.
func runAsProcess(args []string) int {
	fs := flag.NewFlagSet("ramfarm-agent", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: ramfarm-agent --dispatcher HOST:PORT --ca-file FILE --token-file FILE [flags]

ramfarm-agent is the node agent. In a node image it is /init and configures
itself from the kernel command line (ramfarm.dispatcher=, ramfarm.ca=,
ramfarm.token=) and DHCP. Run by hand, as here, it joins a dispatcher as a node that runs tasks
on this host: useful for trying ramfarm without VMs, for tests and for load
generation.

Flags:
`)
		fs.PrintDefaults()
	}
	dispatcher := fs.String("dispatcher", "127.0.0.1:7070", "dispatcher agent address `host:port`")
	tokenFile := fs.String("token-file", "", "`file` holding the node enrollment token (the dispatcher's STATE_DIR/node-token)")
	caFile := fs.String("ca-file", "", "the cluster CA certificate `file` (the dispatcher's STATE_DIR/ca.crt): the dispatcher must prove it holds this CA")
	mac := fs.String("mac", "", "node identity as a MAC `address` (default: derived from the hostname and process id)")
	cores := fs.Int("cores", runtime.NumCPU(), "task slots to offer")
	prefetch := fs.Int("prefetch", 0, "tasks to keep queued beyond the slots, so the next starts without a round trip to the dispatcher (for short tasks; a queued task waits for this node even if another goes idle)")
	workDir := fs.String("work-dir", "", "`directory` for task workspaces (default: $TMPDIR/ramfarm-tasks)")
	cgroupDir := fs.String("cgroup", "", "give each task a cgroup under `dir`, a new directory in a cgroup v2 filesystem (such as /sys/fs/cgroup/ramfarm); the agent moves itself into dir/agent (default: process groups only)")
	taskPids := fs.Int("task-pids", defaultTaskPids, "with -cgroup: the most processes a task may have")
	verbose := fs.Bool("v", false, "log debug messages")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	token, err := os.ReadFile(*tokenFile)
	if err != nil {
		log.Error("need the node enrollment token", "err", err)
		return 2
	}
	caPin, err := pinOfFile(*caFile)
	if err != nil {
		log.Error("need the cluster CA certificate", "err", err)
		return 2
	}
	hostname, _ := os.Hostname()
	if *mac == "" {
		*mac = processMAC(hostname, os.Getpid())
	}
	work, err := workspaceRoot(*workDir)
	if err != nil {
		log.Error("task workspace", "err", err)
		return 1
	}
	var cgroups *taskCgroups
	if *cgroupDir != "" {
		cgroups = startTaskCgroups(*cgroupDir, *taskPids, log)
	} else {
		log.Info("tasks run in process groups only, without limits (no -cgroup)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := New(Config{
		Dispatcher: *dispatcher, CAPin: caPin, Token: strings.TrimSpace(string(token)), MAC: *mac,
		Hostname: hostname, BootID: fmt.Sprintf("process-%d-%d", os.Getpid(), time.Now().UnixNano()),
		Cores: *cores, Prefetch: min(max(*prefetch, 0), maxPrefetch), Memory: meminfo("MemTotal"), WorkDir: work, Cgroups: cgroups, Logger: log,
		Reboot: func() error { stop(); return fmt.Errorf("reboot requested: a process agent exits instead") },
		Kexec: func(protocol.BootImage) error {
			stop()
			return fmt.Errorf("kexec requested: a process agent exits instead")
		},
	})
	return exitCode(a.Run(ctx))
}

// pinOfFile returns the pin of the PEM certificate in path.
func pinOfFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	pin, err := protocol.PinOfPEM(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return pin, nil
}

func exitCode(err error) int {
	if err == nil || err == context.Canceled {
		return 0
	}
	return 1
}

// processMAC makes a stable, locally administered MAC for a process agent.
func processMAC(hostname string, pid int) string {
	h := uint32(2166136261)
	for _, c := range []byte(hostname) {
		h = (h ^ uint32(c)) * 16777619
	}
	return net.HardwareAddr{0x02, 0x72, byte(h >> 8), byte(h), byte(pid >> 8), byte(pid)}.String()
}

func kernelRelease() (string, error) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "", err
	}
	b := make([]byte, 0, len(u.Release))
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b), nil
}
