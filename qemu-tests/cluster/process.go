package cluster

import (
	"os/exec"
	"syscall"
	"time"
)

// terminate asks a child process to stop (SIGTERM), kills it if it has not
// exited within grace, and returns once exited is closed (by the goroutine
// that waits for it). A process that is gone already costs nothing.
func terminate(cmd *exec.Cmd, exited <-chan struct{}, grace time.Duration) {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-exited
	}
}
