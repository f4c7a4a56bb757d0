package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/protocol"
)

const mib = 1 << 20

// Limits small enough that a runaway test task cannot hurt the machine it
// runs on, set before any task starts.
const (
	testPids        = 64
	testTasksMemory = 128 * mib
)

// TestTaskCgroups proves a task cannot take the agent down: a fork bomb
// and a memory eater are killed and reported, their cgroups removed, and
// the runner goes on serving. It runs on the host when the host's cgroup2
// has the controllers, and in a test guest otherwise.
func TestTaskCgroups(t *testing.T) {
	requireRoot(t)
	mount, ok := cgroup2WithControllers()
	if !ok {
		runInGuest(t, "^TestTaskCgroups$")
		return
	}
	c := testCgroups(t, mount)
	r := runner{workDir: t.TempDir(), cgroups: c}
	run := func(t *testing.T, command string, timeout time.Duration, lim Limits) *protocol.Result {
		t.Helper()
		task := &protocol.Task{TaskRef: protocol.TaskRef{ID: 7, Attempt: 1}, Command: command, Timeout: protocol.Duration(timeout), Limits: lim}
		start := time.Now()
		res := r.run(context.Background(), task)
		t.Logf("%q ran %v: exit %d, error %q, stderr %d bytes", command, time.Since(start).Round(time.Millisecond), res.ExitCode, res.Error, len(res.Stderr))
		if leaves := taskLeaves(t, c); len(leaves) != 0 {
			t.Errorf("task cgroups left behind: %v", leaves)
		}
		return res
	}
	stillServes := func(t *testing.T) {
		t.Helper()
		if res := run(t, "echo $((6*7))", 10*time.Second, Limits{}); string(res.Stdout) != "42\n" || res.ExitCode != 0 || res.Error != "" {
			t.Fatalf("a plain task after that: stdout %q, exit %d, error %q", res.Stdout, res.ExitCode, res.Error)
		}
	}

	t.Run("task starts in its own cgroup with its limits", func(t *testing.T) {
		res := run(t, `cg=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup); echo $cg; cat $cg/pids.max $cg/memory.max $cg/cpu.max $cg/memory.oom.group`,
			10*time.Second, Limits{MemoryBytes: 32 * mib, CPUs: 0.5, Pids: 100})
		want := filepath.Join(c.tasksDir(), "7-1") + "\n100\n33554432\n50000 100000\n1\n"
		if res.ExitCode != 0 || string(res.Stdout) != want {
			t.Fatalf("exit %d, stdout %q (stderr %q), want %q", res.ExitCode, res.Stdout, res.Stderr, want)
		}
	})

	t.Run("fork bomb is contained, killed and reported", func(t *testing.T) {
		// The classic bomb, named f: ash takes no ":" for a function
		// name. The shell spins on builtins, which need no fork, while
		// the bomb runs into pids.max until the timeout.
		res := run(t, "f(){ f|f& };f; while true; do true; done", 5*time.Second, Limits{})
		if res.ExitCode != -1 || !strings.Contains(res.Error, "timed out after 5s") ||
			!strings.Contains(res.Error, fmt.Sprintf("forks refused at the limit of %d processes", testPids)) {
			t.Fatalf("exit %d, error %q: want a timeout and refused forks", res.ExitCode, res.Error)
		}
		stillServes(t)
	})

	t.Run("fork bomb whose shell exits is killed at once", func(t *testing.T) {
		start := time.Now()
		res := run(t, "f(){ f|f& };f", time.Minute, Limits{})
		if took := time.Since(start); took > 15*time.Second {
			t.Fatalf("took %v: the runner waited for the bomb instead of killing it", took)
		}
		if res.ExitCode != 0 {
			t.Fatalf("exit %d, error %q, want the shell's 0", res.ExitCode, res.Error)
		}
		stillServes(t)
	})

	t.Run("memory eater is OOM-killed within its own limit", func(t *testing.T) {
		// tail keeps the newline-free stream in memory until killed.
		res := run(t, "head -c 2000m /dev/zero | tail", time.Minute, Limits{MemoryBytes: 64 * mib})
		if want := fmt.Sprintf("killed: out of memory (limit %d bytes)", 64*mib); res.ExitCode != -1 || res.Error != want {
			t.Fatalf("exit %d, error %q, want %q", res.ExitCode, res.Error, want)
		}
		stillServes(t)
	})

	t.Run("memory eater is OOM-killed within the limit all tasks share", func(t *testing.T) {
		res := run(t, "head -c 2000m /dev/zero | tail", time.Minute, Limits{})
		if want := fmt.Sprintf("killed: out of memory (limit %d bytes, shared by all tasks)", testTasksMemory); res.ExitCode != -1 || res.Error != want {
			t.Fatalf("exit %d, error %q, want %q", res.ExitCode, res.Error, want)
		}
		stillServes(t)
	})

	t.Run("processes that leave the process group are killed too", func(t *testing.T) {
		res := run(t, "setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $!", 10*time.Second, Limits{})
		pid, err := strconv.Atoi(strings.TrimSpace(string(res.Stdout)))
		if err != nil {
			t.Fatalf("stdout %q, stderr %q", res.Stdout, res.Stderr)
		}
		if processRuns(pid) {
			t.Fatalf("sleep %d, in a session of its own, outlived its task", pid)
		}
	})

	t.Run("the agent reports runaway tasks and keeps serving", func(t *testing.T) {
		f := newFakeDispatcher(t)
		a := New(Config{
			CAPin: testCA().Pin(), Dispatcher: f.ln.Addr().String(), MAC: "52:54:00:00:00:01", BootID: "b1", Cores: 2,
			WorkDir: t.TempDir(), Cgroups: c, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { a.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		pc, _ := f.accept()
		expect[*protocol.Request](t, pc)
		pc.Send(&protocol.Task{TaskRef: protocol.TaskRef{ID: 1, Attempt: 1}, Command: "f(){ f|f& };f; while true; do true; done", Timeout: protocol.Duration(3 * time.Second)})
		pc.Send(&protocol.Task{TaskRef: protocol.TaskRef{ID: 2, Attempt: 1}, Command: "head -c 2000m /dev/zero | tail"})
		want := map[uint64]string{1: "forks refused", 2: "killed: out of memory"}
		for range want {
			res := nextResult(t, pc)
			if !strings.Contains(res.Error, want[res.ID]) {
				t.Errorf("task %d: error %q, want %q", res.ID, res.Error, want[res.ID])
			}
		}
		pc.Send(&protocol.Task{TaskRef: protocol.TaskRef{ID: 3, Attempt: 1}, Command: "echo still here"})
		if res := nextResult(t, pc); res.ID != 3 || string(res.Stdout) != "still here\n" {
			t.Fatalf("after the runaways: %+v", res)
		}
	})

	t.Run("a restarted agent ends the tasks of the one before", func(t *testing.T) {
		stale := filepath.Join(c.tasksDir(), "99-1")
		if err := os.Mkdir(stale, 0o755); err != nil {
			t.Fatal(err)
		}
		sleeper := exec.Command("/bin/sleep", "1000")
		sleeper.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: openDir(t, stale)}
		if err := sleeper.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- sleeper.Wait() }()
		if _, err := setupTaskCgroups(c.dir, testPids, testTasksMemory); err != nil {
			t.Fatalf("setting up again: %v", err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			sleeper.Process.Kill()
			t.Fatal("the previous agent's task survived the new agent's setup")
		}
		if _, err := os.Stat(stale); !os.IsNotExist(err) {
			t.Fatalf("stale cgroup %s: %v, want it removed", stale, err)
		}
	})
}

// nextResult receives the next result, passing over the slot requests
// that results of concurrent tasks interleave with.
func nextResult(t *testing.T, pc *protocol.Conn) *protocol.Result {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		m, err := pc.Receive()
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if res, ok := m.(*protocol.Result); ok {
			return res
		}
	}
	t.Fatal("no result within 2 minutes")
	return nil
}

// cgroup2WithControllers finds a cgroup2 mount whose root offers the
// memory, pids and cpu controllers.
func cgroup2WithControllers() (string, bool) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// ... mount-point ... - fstype source options
		fields := strings.Fields(s.Text())
		sep := strings.Index(s.Text(), " - ")
		if len(fields) < 5 || sep < 0 || !strings.HasPrefix(s.Text()[sep:], " - cgroup2 ") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(fields[4], "cgroup.controllers"))
		have := strings.Fields(string(b))
		if err == nil && slices.Contains(have, "memory") && slices.Contains(have, "pids") && slices.Contains(have, "cpu") {
			return fields[4], true
		}
	}
	return "", false
}

// testCgroups sets up task cgroups in a fresh directory of the cgroup2 at
// mount. At cleanup it moves the test process back where it was and
// removes the directory.
func testCgroups(t *testing.T, mount string) *taskCgroups {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(mount, strings.TrimSpace(strings.TrimPrefix(string(b), "0::")))
	base := filepath.Join(mount, fmt.Sprintf("ramfarm-test-%d", os.Getpid()))
	t.Cleanup(func() {
		if err := writeCgroupFile(home, "cgroup.procs", "0"); err != nil {
			t.Errorf("moving the test back to %s: %v", home, err)
		}
		for _, dir := range []string{"ramfarm/tasks", "ramfarm/agent", "ramfarm", ""} {
			if err := os.Remove(filepath.Join(base, dir)); err != nil {
				t.Errorf("removing the test cgroups: %v", err)
			}
		}
	})
	c, err := setupTaskCgroups(filepath.Join(base, "ramfarm"), testPids, testTasksMemory)
	if err != nil {
		t.Fatalf("setting up task cgroups: %v", err)
	}
	return c
}

func taskLeaves(t *testing.T, c *taskCgroups) []string {
	entries, err := os.ReadDir(c.tasksDir())
	if err != nil {
		t.Fatal(err)
	}
	var leaves []string
	for _, e := range entries {
		if e.IsDir() {
			leaves = append(leaves, e.Name())
		}
	}
	return leaves
}

func openDir(t *testing.T, dir string) int {
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

// processRuns reports whether pid is alive and not a zombie.
func processRuns(pid int) bool {
	return syscall.Kill(pid, 0) == nil && !isZombie(pid)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test makes cgroups and mounts: run it as root")
	}
}
