package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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

	dir, err := os.MkdirTemp(r.workDir, fmt.Sprintf("task-%d-%d-", t.ID, t.Attempt))
	if err != nil {
		res.Error = fmt.Sprintf("create workspace: %v", err)
		return res
	}
	defer os.RemoveAll(dir)

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
		fmt.Sprintf("RAMFARM_TASK_ID=%d", t.ID),
		fmt.Sprintf("RAMFARM_TASK_ATTEMPT=%d", t.Attempt),
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// execute runs cmd until its first process exits, or until timeout (zero:
// none) or ctx ends, and kills whatever else it started. killReason says
// why it was killed early, if it was.
func execute(ctx context.Context, cmd *exec.Cmd, timeout time.Duration, cg *taskCgroup) (waitErr error, killReason string, stdout, stderr *capped) {
	stdout, stderr = &capped{}, &capped{}
	outputs, err := pipeOutput(cmd, stdout, stderr)
	if err != nil {
		return err, "", stdout, stderr
	}
	if err := cmd.Start(); err != nil {
		outputs.abandon()
		return err, "", stdout, stderr
	}
	outputs.started()
	pgid := cmd.Process.Pid
	killAll := func() {
		syscall.Kill(-pgid, syscall.SIGKILL)
		if cg != nil {
			cg.kill() // also what left the process group
		}
	}

	// The watcher kills the task on timeout or shutdown and says which,
	// or says nothing once the task exits by itself.
	exited := make(chan struct{})
	killedFor := make(chan string, 1)
	go func() {
		var deadline <-chan time.Time
		if timeout > 0 {
			timer := time.NewTimer(timeout)
			defer timer.Stop()
			deadline = timer.C
		}
		select {
		case <-exited:
			killedFor <- ""
			return
		case <-deadline:
			killedFor <- fmt.Sprintf("timed out after %s", timeout)
		case <-ctx.Done():
			killedFor <- stopReason(ctx)
		}
		killAll()
	}()
	waitErr = cmd.Wait()
	close(exited)
	// Whatever the task left running in the background goes with it.
	killAll()
	killReason = <-killedFor
	outputs.drain()
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

// taskOutput reads a task's stdout and stderr through pipes of its own
// rather than through exec's, so that cmd.Wait returns when the task's
// first process exits even while processes it started in the background
// hold the pipes (a fork bomb does): they are killed then, and their end
// closes the pipes.
type taskOutput struct {
	readers, writers []*os.File
	done             chan struct{}
}

// drainTime bounds the wait for the pipes to close once the task is
// killed: without a cgroup, a process that left the task's process group
// may hold them on.
const drainTime = 2 * time.Second

func pipeOutput(cmd *exec.Cmd, stdout, stderr io.Writer) (*taskOutput, error) {
	o := &taskOutput{done: make(chan struct{})}
	for _, dst := range []*io.Writer{&cmd.Stdout, &cmd.Stderr} {
		r, w, err := os.Pipe()
		if err != nil {
			o.abandon()
			return nil, err
		}
		o.readers, o.writers = append(o.readers, r), append(o.writers, w)
		*dst = w
	}
	go func() {
		defer close(o.done)
		copied := make(chan struct{})
		go func() { io.Copy(stderr, o.readers[1]); close(copied) }()
		io.Copy(stdout, o.readers[0])
		<-copied
	}()
	return o, nil
}

// started closes the parent's write ends, now that the task has its own.
func (o *taskOutput) started() {
	for _, w := range o.writers {
		w.Close()
	}
}

// abandon closes every end when the task did not start.
func (o *taskOutput) abandon() {
	o.started()
	for _, r := range o.readers {
		r.Close()
	}
}

// drain waits until the task's output is read to its end, or drainTime.
func (o *taskOutput) drain() {
	select {
	case <-o.done:
	case <-time.After(drainTime):
	}
	for _, r := range o.readers {
		r.Close()
	}
	<-o.done
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
