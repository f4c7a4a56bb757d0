package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ramfarm/ramfarm/protocol"
)

// run executes one task as `/bin/sh -c COMMAND` in a fresh workspace and
// reports how it ended. The task gets its own process group, so a timeout
// or the end of the task kills everything it started, and nothing it does
// can take the agent down with it.
func run(ctx context.Context, t *protocol.Task, workDir string) *protocol.Result {
	res := &protocol.Result{TaskRef: t.TaskRef, ExitCode: -1, Started: time.Now().UTC()}
	defer func() { res.Duration = protocol.Duration(time.Since(res.Started)) }()

	dir, err := os.MkdirTemp(workDir, fmt.Sprintf("task-%d-%d-", t.ID, t.Attempt))
	if err != nil {
		res.Error = fmt.Sprintf("create workspace: %v", err)
		return res
	}
	defer os.RemoveAll(dir)

	var stdout, stderr capped
	cmd := exec.Command("/bin/sh", "-c", t.Command)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = []string{
		"PATH=/bin:/sbin:/usr/bin:/usr/sbin",
		"HOME=" + dir, "TMPDIR=" + dir,
		fmt.Sprintf("RAMFARM_TASK_ID=%d", t.ID),
		fmt.Sprintf("RAMFARM_TASK_ATTEMPT=%d", t.Attempt),
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		res.Error = fmt.Sprintf("start: %v", err)
		return res
	}
	pgid := cmd.Process.Pid

	// The watcher kills the task's process group on timeout or shutdown and
	// says which, or says nothing once the task exits by itself.
	exited := make(chan struct{})
	killedFor := make(chan string, 1)
	go func() {
		var deadline <-chan time.Time
		if t.Timeout > 0 {
			timer := time.NewTimer(t.Timeout.Std())
			defer timer.Stop()
			deadline = timer.C
		}
		select {
		case <-exited:
			killedFor <- ""
			return
		case <-deadline:
			killedFor <- fmt.Sprintf("timed out after %s", t.Timeout.Std())
		case <-ctx.Done():
			killedFor <- "agent shutting down"
		}
		syscall.Kill(-pgid, syscall.SIGKILL)
	}()
	waitErr := cmd.Wait()
	close(exited)
	// Whatever the task left running in the background goes with it.
	syscall.Kill(-pgid, syscall.SIGKILL)
	killReason := <-killedFor

	res.Stdout, res.Stderr = stdout.Bytes(), stderr.Bytes()
	var exitErr *exec.ExitError
	switch {
	case killReason != "":
		res.Error = killReason
	case waitErr == nil:
		res.ExitCode = 0
	case errors.As(waitErr, &exitErr) && exitErr.Exited():
		res.ExitCode = exitErr.ExitCode()
	case errors.As(waitErr, &exitErr):
		res.Error = fmt.Sprintf("killed by %v", exitErr.Sys().(syscall.WaitStatus).Signal())
	default:
		res.Error = waitErr.Error()
	}
	if stdout.truncated || stderr.truncated {
		res.Error = joinNote(res.Error, fmt.Sprintf("output truncated to %d bytes per stream", protocol.MaxOutput))
	}
	return res
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// capped keeps the first protocol.MaxOutput bytes written to it and
// discards the rest, so a chatty task cannot exhaust the node's memory.
// It must not embed bytes.Buffer: io.Copy would use the promoted ReadFrom
// and bypass the cap.
type capped struct {
	buf       bytes.Buffer
	truncated bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := protocol.MaxOutput - c.buf.Len(); len(p) > room {
		c.truncated = true
		c.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.buf.Write(p)
}

func (c *capped) Bytes() []byte { return c.buf.Bytes() }

// workspaceRoot returns where task workspaces go, creating it.
func workspaceRoot(dir string) (string, error) {
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "ramfarm-tasks")
	}
	return dir, os.MkdirAll(dir, 0o755)
}
