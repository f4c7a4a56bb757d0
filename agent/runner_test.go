package agent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/protocol"
)

func runTask(t *testing.T, command string, timeout time.Duration) *protocol.Result {
	t.Helper()
	task := &protocol.Task{TaskRef: protocol.TaskRef{ID: 7, Attempt: 1}, Command: command, Timeout: protocol.Duration(timeout)}
	return runner{workDir: t.TempDir()}.run(context.Background(), task)
}

func TestRunReportsOutputAndExitStatus(t *testing.T) {
	r := runTask(t, `echo out; echo err >&2; echo "$RAMFARM_TASK_ID/$RAMFARM_TASK_ATTEMPT"; exit 3`, 0)
	if r.ExitCode != 3 || r.Error != "" {
		t.Fatalf("exit %d error %q, want 3 and no error", r.ExitCode, r.Error)
	}
	if string(r.Stdout) != "out\n7/1\n" || string(r.Stderr) != "err\n" {
		t.Fatalf("stdout %q stderr %q", r.Stdout, r.Stderr)
	}
	if r.ID != 7 || r.Attempt != 1 || r.Started.IsZero() || r.Duration <= 0 {
		t.Fatalf("result header %+v", r)
	}
}

func TestRunTimeoutKillsTheWholeProcessGroup(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "child-pid")
	start := time.Now()
	r := runTask(t, "sleep 60 & echo $! > "+marker+"; wait", 300*time.Millisecond)
	if time.Since(start) > 10*time.Second {
		t.Fatalf("timeout took %v", time.Since(start))
	}
	if r.ExitCode != -1 || !strings.Contains(r.Error, "timed out after 300ms") {
		t.Fatalf("exit %d error %q, want -1 and a timeout", r.ExitCode, r.Error)
	}
	b, err := os.ReadFile(marker)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &pid); err != nil {
		t.Fatal(err)
	}
	// The background sleep must be gone too (or a zombie awaiting its reaper).
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil && !isZombie(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("background child %d of a timed-out task still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The task ends with its shell: background processes holding its output
// are killed then, not waited for.
func TestRunEndsWhenTheShellExits(t *testing.T) {
	start := time.Now()
	r := runTask(t, "(sleep 60; echo late) & echo early", 0)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("took %v: the runner waited for a background child", took)
	}
	if string(r.Stdout) != "early\n" || r.ExitCode != 0 || r.Error != "" {
		t.Fatalf("stdout %q, exit %d, error %q", r.Stdout, r.ExitCode, r.Error)
	}
}

func TestRunCapsOutput(t *testing.T) {
	r := runTask(t, "head -c 3000000 /dev/zero", 0)
	if len(r.Stdout) != protocol.MaxOutput || !strings.Contains(r.Error, "truncated") || r.ExitCode != 0 {
		t.Fatalf("stdout %d bytes, error %q, exit %d; want %d bytes and a truncation note", len(r.Stdout), r.Error, r.ExitCode, protocol.MaxOutput)
	}
	if !bytes.Equal(r.Stdout[:10], make([]byte, 10)) {
		t.Fatal("kept output is not the start of the stream")
	}
}

func TestRunReportsSignals(t *testing.T) {
	r := runTask(t, "kill -KILL $$", 0)
	if r.ExitCode != -1 || !strings.Contains(r.Error, "killed") {
		t.Fatalf("exit %d error %q, want -1 and killed", r.ExitCode, r.Error)
	}
}

func TestRunCleansItsWorkspace(t *testing.T) {
	root := t.TempDir()
	task := &protocol.Task{TaskRef: protocol.TaskRef{ID: 1, Attempt: 1}, Command: "pwd; touch scratch"}
	r := runner{workDir: root}.run(context.Background(), task)
	dir := strings.TrimSpace(string(r.Stdout))
	if !strings.HasPrefix(dir, root) {
		t.Fatalf("task ran in %q, want a workspace under %q", dir, root)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("workspace left behind: %v", entries)
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true // gone
	}
	fields := strings.Fields(string(b))
	return len(fields) > 2 && fields[2] == "Z"
}

// BenchmarkRunTrue runs the bench's task, /bin/true through the shell, in a
// workspace on tmpfs as on a node. cpu-us/op is the agent's own CPU time
// per task (the runner's; the task's processes are not counted), the
// figure that competes with the tasks for the node's cores.
func BenchmarkRunTrue(b *testing.B) {
	root, err := os.MkdirTemp("/dev/shm", "ramfarm-runner-bench-")
	if err != nil {
		b.Skip("no tmpfs at /dev/shm:", err)
	}
	defer os.RemoveAll(root)
	r := runner{workDir: root}
	task := &protocol.Task{TaskRef: protocol.TaskRef{ID: 1, Attempt: 1}, Command: "/bin/true"}
	before := selfCPU()
	for b.Loop() {
		if res := r.run(context.Background(), task); res.ExitCode != 0 || res.Error != "" {
			b.Fatalf("exit %d error %q", res.ExitCode, res.Error)
		}
	}
	b.ReportMetric(float64((selfCPU()-before).Microseconds())/float64(b.N), "cpu-us/op")
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Kernels without pidfds (before 5.3) get a goroutine that waits for the
// task; output, exit status and timeouts must come out the same.
func TestRunWithoutPidfd(t *testing.T) {
	pidfdsWanted = false
	defer func() { pidfdsWanted = true }()
	r := runTask(t, `echo out; echo err >&2; exit 4`, 0)
	if r.ExitCode != 4 || r.Error != "" || string(r.Stdout) != "out\n" || string(r.Stderr) != "err\n" {
		t.Fatalf("exit %d error %q stdout %q stderr %q", r.ExitCode, r.Error, r.Stdout, r.Stderr)
	}
	r = runTask(t, "sleep 60", 200*time.Millisecond)
	if r.ExitCode != -1 || !strings.Contains(r.Error, "timed out") {
		t.Fatalf("exit %d error %q, want a timeout", r.ExitCode, r.Error)
	}
}
