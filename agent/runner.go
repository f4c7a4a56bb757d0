package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ramfarm/ramfarm/protocol"
)

// runner runs tasks on this node.
type runner struct {
	workDir string       // task workspaces are made under it
	cgroups *taskCgroups // nil: tasks get a process group only
}

// run executes one task as `/bin/sh -c COMMAND` in a fresh workspace,
// within its limits, and reports how it ended. The task gets its own process
// group and, when the node has cgroup v2, its own cgroup, so a timeout or
// the end of the task kills everything it started, and nothing it does
// (a fork bomb, eating all memory) can take the agent down with it.
func (r runner) run(ctx context.Context, t *protocol.Task) *protocol.Result {
	start := time.Now() // monotonic: the duration survives a clock step
	res := &protocol.Result{TaskRef: t.TaskRef, ExitCode: -1, Started: start.UTC()}
	defer func() { res.Duration = protocol.Duration(time.Since(start)) }()

	dir, err := os.MkdirTemp(r.workDir, "task-"+strconv.FormatUint(t.ID, 10)+"-"+strconv.Itoa(t.Attempt)+"-")
	if err != nil {
		res.Error = fmt.Sprintf("create workspace: %v", err)
		return res
	}
	defer removeWorkspace(dir)

	cmd := taskCommand(t, dir)
	var cg *taskCgroup
	if r.cgroups != nil {
		if cg, err = r.cgroups.create(t.TaskRef, t.Limits); err != nil {
			res.Error = fmt.Sprintf("create cgroup: %v", err)
			return res
		}
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(cg.fd.Fd())
	}
	waitErr, killReason, stdout, stderr := execute(ctx, cmd, t.Timeout.Std(), cg)
	res.Stdout, res.Stderr = stdout.Bytes(), stderr.Bytes()
	res.ExitCode, res.Error = describeEnd(waitErr, killReason)
	if cg != nil {
		oom, forks := cg.limitNotes()
		if oom != "" {
			res.Error = oom // the kill signal or timeout was its symptom
		}
		res.Error = joinNote(res.Error, forks)
		if err := cg.remove(); err != nil {
			res.Error = joinNote(res.Error, fmt.Sprintf("cgroup not removed: %v", err))
		}
	}
	if stdout.truncated || stderr.truncated {
		res.Error = joinNote(res.Error, fmt.Sprintf("output truncated to %d bytes per stream", protocol.MaxOutput))
	}
	return res
}

func taskCommand(t *protocol.Task, dir string) *exec.Cmd {
	cmd := exec.Command("/bin/sh", "-c", t.Command)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=/bin:/sbin:/usr/bin:/usr/sbin",
		"HOME=" + dir, "TMPDIR=" + dir,
		"RAMFARM_TASK_ID=" + strconv.FormatUint(t.ID, 10),
		"RAMFARM_TASK_ATTEMPT=" + strconv.Itoa(t.Attempt),
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if null, err := devNull(); err == nil {
		cmd.Stdin = null // else os/exec opens it, for every task
	}
	return cmd
}

// devNull is every task's stdin, opened once: tasks only read it.
var devNull = sync.OnceValues(func() (*os.File, error) { return os.Open(os.DevNull) })

// removeWorkspace removes a task's workspace. Most tasks leave it empty,
// and then one rmdir does.
func removeWorkspace(dir string) {
	if syscall.Rmdir(dir) != nil {
		os.RemoveAll(dir)
	}
}

// execute runs cmd until its first process exits, or until timeout (zero:
// none) or ctx ends, and kills whatever else it started. killReason says
// why it was killed early, if it was.
//
// Per task it costs no goroutine and no blocked thread: the output and the
// exit are awaited in Go's poller (see taskIO), the timeout and the
// cancellation are callbacks.
func execute(ctx context.Context, cmd *exec.Cmd, timeout time.Duration, cg *taskCgroup) (waitErr error, killReason string, stdout, stderr *capped) {
	stdout, stderr = &capped{}, &capped{}
	tio, err := newTaskIO(cmd, stdout, stderr)
	if err != nil {
		return err, "", stdout, stderr
	}
	defer tio.close()
	if err := cmd.Start(); err != nil {
		return err, "", stdout, stderr
	}
	pgid := cmd.Process.Pid
	killAll := func() {
		syscall.Kill(-pgid, syscall.SIGKILL)
		if cg != nil {
			cg.kill() // also what left the process group
		}
	}
	wait := cmd.Wait // at once, after the pidfd said the process exited
	err = tio.started()
	if err == nil && tio.pidfd < 0 {
		wait, err = tio.waitInBackground(cmd)
	}
	if err != nil {
		killAll()
		cmd.Wait()
		return err, "", stdout, stderr
	}

	// The first reason to kill the task wins; once it has exited by
	// itself, neither the timer nor ctx may claim it.
	var mu sync.Mutex
	exited := false
	kill := func(reason string) {
		mu.Lock()
		defer mu.Unlock()
		if !exited && killReason == "" {
			killReason = reason
			killAll()
		}
	}
	if timeout > 0 {
		timer := time.AfterFunc(timeout, func() { kill(fmt.Sprintf("timed out after %s", timeout)) })
		defer timer.Stop()
	}
	stop := context.AfterFunc(ctx, func() { kill(stopReason(ctx)) })
	defer stop()

	if err := tio.awaitExit(); err != nil {
		killAll() // cannot watch it: end it rather than lose track of it
	}
	waitErr = wait()
	mu.Lock()
	exited = true
	mu.Unlock()
	// Whatever the task left running in the background goes with it.
	killAll()
	tio.drain()
	return waitErr, killReason, stdout, stderr
}

// errCancelled is the cause of a task's context when the dispatcher cancels
// the task; it becomes the result's error.
var errCancelled = errors.New("cancelled")

// stopReason says why a task's context ended: cancelled by the dispatcher,
// or the agent is stopping.
func stopReason(ctx context.Context) string {
	if errors.Is(context.Cause(ctx), errCancelled) {
		return errCancelled.Error()
	}
	return "agent shutting down"
}

// describeEnd gives a result's exit code and error for how a task ended.
func describeEnd(waitErr error, killReason string) (exitCode int, errText string) {
	var exitErr *exec.ExitError
	switch {
	case killReason != "":
		return -1, killReason
	case waitErr == nil:
		return 0, ""
	case errors.As(waitErr, &exitErr) && exitErr.Exited():
		return exitErr.ExitCode(), ""
	case errors.As(waitErr, &exitErr):
		return -1, fmt.Sprintf("killed by %v", exitErr.Sys().(syscall.WaitStatus).Signal())
	default:
		return -1, waitErr.Error()
	}
}

func joinNote(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
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
