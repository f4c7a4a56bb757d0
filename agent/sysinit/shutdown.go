package sysinit

import (
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// shutdownSignals are those that shut the node down, as with busybox init:
// SIGINT (ctrl-alt-del, once disableCtrlAltDel has run) and SIGTERM
// reboot, SIGUSR2 powers off.
var shutdownSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGUSR2}

// agentGrace is how long the agent has to stop after SIGTERM: long enough
// to kill its tasks and close its connection, short enough that a stuck
// agent does not hold up a reboot.
const agentGrace = 10 * time.Second

// disableCtrlAltDel makes the kernel send SIGINT to PID 1 on ctrl-alt-del
// instead of rebooting at once without a sync.
func disableCtrlAltDel() error {
	return os.NewSyscallError("reboot(CAD_OFF)", unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF))
}

// shutdownNode stops the agent, pid agent (0 if none runs): SIGTERM, then
// SIGKILL after agentGrace. It then kills every other process, syncs, and
// reboots or, for SIGUSR2, powers off. It never returns: should reboot(2)
// fail, it goes on reaping, as PID 1 must.
func shutdownNode(log *slog.Logger, sig os.Signal, agent int, sigchld <-chan os.Signal) {
	cmd, action := unix.LINUX_REBOOT_CMD_RESTART, "reboot"
	if sig == unix.SIGUSR2 {
		cmd, action = unix.LINUX_REBOOT_CMD_POWER_OFF, "power off"
	}
	log.Warn("shutting down", "signal", sig.String(), "then", action)
	if agent != 0 {
		unix.Kill(agent, unix.SIGTERM)
		if !awaitExit(agent, agentGrace, sigchld) {
			log.Warn("the agent did not stop in time; killing it", "grace", agentGrace)
			unix.Kill(agent, unix.SIGKILL)
			awaitExit(agent, agentGrace, sigchld)
		}
		log.Info("agent stopped")
	}
	// Orphans, and tasks of an agent that could not end them.
	unix.Kill(-1, unix.SIGKILL)
	err := shutdown(cmd)
	log.Error("shutdown failed", "err", err)
	for range sigchld {
		for range reapChildren {
		}
	}
}

// awaitExit reaps children until pid is among them or timeout passes, and
// reports whether pid exited.
func awaitExit(pid int, timeout time.Duration, sigchld <-chan os.Signal) bool {
	deadline := time.After(timeout)
	for {
		for p := range reapChildren {
			if p == pid {
				return true
			}
		}
		select {
		case <-sigchld:
		case <-deadline:
			return false
		}
	}
}
