// Package sysinit does what PID 1 must do on a diskless ramfarm node: mount
// the kernel filesystems, bring up lo, keep the agent running and reap
// orphans. It also reboots and powers the node off, on request or on a
// signal to PID 1 (SIGINT from ctrl-alt-del or SIGTERM: reboot; SIGUSR2:
// power off).
package sysinit

import (
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv marks the agent process that PID 1 starts.
const childEnv = "RAMFARM_AGENT_CHILD"

// IsChild reports whether this process is the agent started by RunInit,
// rather than PID 1 itself.
func IsChild() bool {
	return os.Getenv(childEnv) == "1"
}

// RunInit is what the agent binary does as PID 1. It never returns: when
// PID 1 exits, the kernel panics.
//
// It mounts the filesystems a diskless node needs, makes sure stdin,
// stdout and stderr are the console, brings up lo, and then runs the agent
// as a child process (this binary again, with RAMFARM_AGENT_CHILD=1),
// restarting it whenever it exits or crashes.
//
// Why a child: the agent runs tasks with os/exec, whose Cmd.Wait needs the
// exit status of its own children. PID 1 must also reap every orphan the
// kernel reparents to it, with wait4(-1), and a wait4(-1) in the agent's
// process would steal those exit statuses from Cmd.Wait. So PID 1 starts
// this one child and otherwise only reaps; nothing in PID 1 uses os/exec,
// so its wait4(-1) races nobody.
func RunInit() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{ReplaceAttr: uptimeForTime})).With("pid", 1)
	if err := mountAll("/"); err != nil {
		log.Error("mounting filesystems", "err", err)
	}
	// After mountAll: the console device may exist only on the devtmpfs.
	if err := attachConsole("/dev/console"); err != nil {
		log.Error("attaching the console", "err", err)
	}
	if err := upLoopback(); err != nil {
		log.Error("bringing up lo", "err", err)
	}
	if err := disableCtrlAltDel(); err != nil {
		log.Warn("ctrl-alt-del still reboots without a sync", "err", err)
	}
	superviseAgent(log)
}

// upLoopback sets lo up with the interface flags ioctl. The agent
// configures its NIC with netlink, but PID 1 runs before it on every boot,
// and under QEMU TCG the first run of any code is what costs: the netlink
// library's requests and link parsing took PID 1 about 30 ms, these two
// ioctls next to nothing.
// uptimeForTime logs the time since the kernel started instead of the
// wall clock, which on a node is the hardware clock's guess until the
// agent sets it from the dispatcher. It is what the agent's lines carry
// too, so boot steps can be timed off the console.
func uptimeForTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key != slog.TimeKey || len(groups) > 0 {
		return a
	}
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return slog.Attr{} // dropped: no time is better than a wrong one
	}
	return slog.String("uptime", strconv.FormatFloat(time.Duration(ts.Nano()).Seconds(), 'f', 3, 64))
}

func upLoopback() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return os.NewSyscallError("SIOCGIFFLAGS lo", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return os.NewSyscallError("SIOCSIFFLAGS lo", err)
	}
	return nil
}

// superviseAgent starts the agent, restarts it after it ends, reaps every
// child of PID 1 and shuts the node down on a shutdown signal. It never
// returns.
func superviseAgent(log *slog.Logger) {
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, unix.SIGCHLD)
	shutdownRequest := make(chan os.Signal, 1)
	signal.Notify(shutdownRequest, shutdownSignals...)
	var (
		agent   int // pid of the running agent, or 0
		started time.Time
		delay   time.Duration
		restart = time.NewTimer(0)
	)
	for {
		select {
		case <-restart.C:
			pid, err := startAgent()
			if err != nil {
				delay = restartDelay(delay, 0)
				log.Error("starting the agent", "err", err, "retry_in", delay)
				restart.Reset(delay)
				continue
			}
			agent, started = pid, time.Now()
			log.Info("agent started", "agent_pid", agent)
		case <-sigchld:
			for pid, status := range reapChildren {
				if pid != agent {
					continue // an orphan: reaping it was all it needed
				}
				delay = restartDelay(delay, time.Since(started))
				log.Warn("agent ended", "status", describe(status), "restart_in", delay)
				agent = 0
				restart.Reset(delay)
			}
		case sig := <-shutdownRequest:
			shutdownNode(log, sig, agent, sigchld)
		}
	}
}

// startAgent starts this binary again as the agent. The agent inherits
// PID 1's stdin, stdout and stderr, which are the console.
func startAgent() (int, error) {
	p, err := os.StartProcess("/proc/self/exe", os.Args, &os.ProcAttr{
		Env:   append(os.Environ(), childEnv+"=1"),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	})
	if err != nil {
		return 0, err
	}
	// Its exit status is collected by reapChildren, not by p.Wait, so free
	// the pidfd that os keeps for p now.
	pid := p.Pid
	p.Release()
	return pid, nil
}

// reapChildren yields every child that has exited, without blocking.
func reapChildren(yield func(pid int, status unix.WaitStatus) bool) {
	for {
		var status unix.WaitStatus
		pid, err := unix.Wait4(-1, &status, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 || !yield(pid, status) {
			return // ECHILD: no children; 0: none has exited
		}
	}
}

func describe(status unix.WaitStatus) string {
	if status.Signaled() {
		return "killed by " + status.Signal().String()
	}
	return "exit status " + strconv.Itoa(status.ExitStatus())
}
