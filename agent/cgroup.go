package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ramfarm/ramfarm/protocol"
	"golang.org/x/sys/unix"
)

// Task cgroups (cgroup v2). The agent keeps this tree:
//
//	ramfarm/            hands memory, pids and cpu to its children; no processes
//	ramfarm/agent/      the agent itself
//	ramfarm/tasks/      every task: memory.max is what the node can spare for tasks
//	ramfarm/tasks/7-1/  one task attempt: pids.max always, memory.max and cpu.max when asked
//
// A task's first process is cloned straight into its leaf (clone3 with
// CLONE_INTO_CGROUP), so nothing it forks ever runs outside, and
// cgroup.kill ends all of it at once, whatever process groups or sessions
// it made. The memory limit on tasks/ is shared: one limit per leaf would
// have to be nearly all of the node's memory, and two tasks could then
// still push the node into a global OOM that might pick the agent.
// Workspace files count too: tmpfs pages are charged to the task that
// wrote them, and without swap they cannot be reclaimed.

// Limits are what a task may use, as the dispatcher sends them.
type Limits = protocol.Limits

const (
	// nodeCgroups is where a node keeps its task cgroups.
	nodeCgroups = "/sys/fs/cgroup/ramfarm"
	// The memory tasks may not take: the kernel's and the agent's, a
	// tenth of the node's and at least minAgentReserve.
	minAgentReserve = 64 << 20
)

// tasksMemory is the memory a node's tasks may use together.
func tasksMemory(total uint64) uint64 {
	return total - min(max(total/10, minAgentReserve), total/2)
}

// startTaskCgroups sets up task cgroups at dir, or logs why it cannot and
// returns nil: tasks then get a process group only.
func startTaskCgroups(dir string, pids int, log *slog.Logger) *taskCgroups {
	c, err := setupTaskCgroups(dir, pids, tasksMemory(meminfo("MemTotal")))
	if err != nil {
		log.Warn("no task cgroups: tasks run in process groups only, without limits", "err", err)
		return nil
	}
	log.Info("task cgroups ready", "dir", dir, "pids_max", pids, "tasks_memory_max", c.tasksMemory)
	return c
}

// cgroupControllers are those ramfarm/ and ramfarm/tasks/ hand down.
const cgroupControllers = "+memory +pids +cpu"

// cpuPeriod is the cpu.max period in microseconds (the kernel's default).
const cpuPeriod = 100000

// taskCgroups makes the cgroups tasks run in.
type taskCgroups struct {
	dir         string // the ramfarm/ directory
	defaultPids int    // pids.max of a task that asks for nothing else
	tasksMemory uint64 // memory.max of tasks/, shared by all tasks; 0: none
}

// setupTaskCgroups makes the tree above at dir, a new or existing
// directory in a cgroup2 filesystem, moves the calling process into
// dir/agent and ends whatever a previous agent left running in
// dir/tasks. It fails if the kernel lacks anything tasks need: cgroup2,
// the three controllers, cgroup.kill (Linux 5.14).
func setupTaskCgroups(dir string, defaultPids int, tasksMemory uint64) (*taskCgroups, error) {
	mount := cgroup2Root(dir)
	if mount == "" {
		return nil, fmt.Errorf("%s is not in a cgroup2 filesystem", dir)
	}
	rel, err := filepath.Rel(mount, dir)
	if err != nil || rel == "." {
		return nil, fmt.Errorf("%s: tasks need a cgroup below the cgroup2 root %s", dir, mount)
	}
	c := &taskCgroups{dir: dir, defaultPids: defaultPids, tasksMemory: tasksMemory}
	for _, d := range []string{c.agentDir(), c.tasksDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// A cgroup that hands controllers to its children may hold no
	// processes (the root excepted), and the agent's own cgroup may be on
	// the way down to dir: leave it before enabling anything.
	if err := writeCgroupFile(c.agentDir(), "cgroup.procs", "0"); err != nil {
		return nil, fmt.Errorf("moving the agent into %s: %w", c.agentDir(), err)
	}
	// Every cgroup from the mount down to tasks/ hands the controllers on.
	path := []string{mount}
	for _, name := range strings.Split(filepath.Join(rel, "tasks"), string(filepath.Separator)) {
		path = append(path, filepath.Join(path[len(path)-1], name))
	}
	for _, d := range path {
		if err := writeCgroupFile(d, "cgroup.subtree_control", cgroupControllers); err != nil {
			return nil, fmt.Errorf("enabling controllers: %w", err)
		}
	}
	if _, err := os.Stat(filepath.Join(c.tasksDir(), "cgroup.kill")); err != nil {
		return nil, fmt.Errorf("no cgroup.kill (needs Linux 5.14): %w", err)
	}
	if tasksMemory > 0 {
		if err := writeCgroupFile(c.tasksDir(), "memory.max", strconv.FormatUint(tasksMemory, 10)); err != nil {
			return nil, err
		}
	}
	return c, c.removeStale()
}

// cgroup2Root returns the root of the cgroup2 filesystem that dir, which
// need not exist yet, would be in, or "" if it would be in none.
func cgroup2Root(dir string) string {
	root := ""
	for d := filepath.Dir(filepath.Clean(dir)); ; d = filepath.Dir(d) {
		var fs unix.Statfs_t
		switch {
		case unix.Statfs(d, &fs) == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC:
			root = d
		case root != "":
			return root // the first ancestor of another filesystem
		}
		if d == "/" {
			return root
		}
	}
}

func (c *taskCgroups) agentDir() string { return filepath.Join(c.dir, "agent") }
func (c *taskCgroups) tasksDir() string { return filepath.Join(c.dir, "tasks") }

// removeStale kills and removes the task leaves of an agent that crashed
// and was restarted: their results are lost with it, and the dispatcher
// hands such tasks out again.
func (c *taskCgroups) removeStale() error {
	entries, err := os.ReadDir(c.tasksDir())
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			errs = append(errs, (&taskCgroup{dir: filepath.Join(c.tasksDir(), e.Name())}).remove())
		}
	}
	return errors.Join(errs...)
}

// taskCgroup is the leaf of one task attempt.
type taskCgroup struct {
	dir    string
	fd     *os.File // the leaf, open for CLONE_INTO_CGROUP
	memory uint64   // the limit an OOM kill is reported against
	shared bool     // memory is the limit all tasks share, not the task's own
	pids   int
}

// create makes the leaf for ref with lim applied. Every limit is in place
// before it returns: no process can enter the leaf before that.
func (c *taskCgroups) create(ref protocol.TaskRef, lim Limits) (*taskCgroup, error) {
	g := &taskCgroup{
		dir:    filepath.Join(c.tasksDir(), fmt.Sprintf("%d-%d", ref.ID, ref.Attempt)),
		memory: c.tasksMemory, shared: true, pids: c.defaultPids,
	}
	if lim.Pids > 0 {
		g.pids = lim.Pids
	}
	settings := [][2]string{{"pids.max", strconv.Itoa(g.pids)}, {"memory.oom.group", "1"}}
	if lim.MemoryBytes > 0 {
		g.memory, g.shared = lim.MemoryBytes, false
		settings = append(settings, [2]string{"memory.max", strconv.FormatUint(lim.MemoryBytes, 10)})
	}
	if lim.CPUs > 0 {
		quota := max(int(lim.CPUs*cpuPeriod), 1000) // the kernel's minimum is 1 ms
		settings = append(settings, [2]string{"cpu.max", fmt.Sprintf("%d %d", quota, cpuPeriod)})
	}
	if err := os.Mkdir(g.dir, 0o755); err != nil {
		return nil, err
	}
	for _, s := range settings {
		if err := writeCgroupFile(g.dir, s[0], s[1]); err != nil {
			return nil, errors.Join(err, g.remove())
		}
	}
	fd, err := os.Open(g.dir)
	if err != nil {
		return nil, errors.Join(err, g.remove())
	}
	g.fd = fd
	return g, nil
}

// kill sends SIGKILL to every process in the leaf at once; none can fork
// its way out meanwhile.
func (g *taskCgroup) kill() error {
	return writeCgroupFile(g.dir, "cgroup.kill", "1")
}

// cgroupDrainTime bounds the wait for killed processes to leave a leaf.
const cgroupDrainTime = 10 * time.Second

// remove kills what is left in the leaf, waits for it to empty and
// removes it.
func (g *taskCgroup) remove() error {
	if g.fd != nil {
		g.fd.Close()
	}
	if err := g.kill(); err != nil {
		return err
	}
	deadline := time.Now().Add(cgroupDrainTime)
	for {
		populated, err := cgroupStat(g.dir, "cgroup.events", "populated")
		if err != nil {
			return err
		}
		if populated == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: processes left %v after cgroup.kill", g.dir, cgroupDrainTime)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return os.Remove(g.dir)
}

// limitNotes says which limits the task ran into: an OOM kill ends the
// task and leads the error; refused forks are a note.
func (g *taskCgroup) limitNotes() (oom, forks string) {
	if n, _ := cgroupStat(g.dir, "memory.events", "oom_kill"); n > 0 {
		scope := ""
		if g.shared {
			scope = ", shared by all tasks"
		}
		oom = fmt.Sprintf("killed: out of memory (limit %d bytes%s)", g.memory, scope)
	}
	if n, _ := cgroupStat(g.dir, "pids.events", "max"); n > 0 {
		forks = fmt.Sprintf("%d forks refused at the limit of %d processes", n, g.pids)
	}
	return oom, forks
}

func writeCgroupFile(dir, name, value string) error {
	// O_TRUNC|O_CREATE are meaningless on cgroupfs; a plain write is what
	// the kernel parses.
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	return errors.Join(err, f.Close())
}

// cgroupStat reads one "key value" line of a flat-keyed cgroup file such
// as memory.events.
func cgroupStat(dir, file, key string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && k == key {
			return strconv.ParseUint(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("%s has no %q", filepath.Join(dir, file), key)
}
