package bench

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
)

// agentCommand is the one place that knows how the benchmark starts a real
// agent as a process on this host: node i of the dispatcher d, with slots
// task slots, its workspaces under workDir. The agent runs tasks with process
// groups only (no -cgroup): this host's cgroup v2 is not writable for it.
func agentCommand(ctx context.Context, bin string, d *loopbackDispatcher, i, slots, prefetch int, workDir string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin,
		"--dispatcher", d.addr,
		"--token-file", filepath.Join(d.dir, "node-token"),
		"--ca-file", filepath.Join(d.dir, "ca.crt"),
		"--cores", strconv.Itoa(slots),
		"--prefetch", strconv.Itoa(prefetch),
		"--mac", fmt.Sprintf("02:e2:00:00:%02x:%02x", i>>8, i&0xff),
		"--work-dir", workDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// runRamfarm measures `ramfarm serve` (durable store on) with real agent
// processes of AgentSlots slots each on loopback: from the submission of all tasks in one API
// call until the API shows every result recorded.
func runRamfarm(ctx context.Context, cfg DispatchConfig, dirs systemDirs) (SystemRun, error) {
	run := SystemRun{Name: "ramfarm", Setup: fmt.Sprintf(
		"ramfarm serve --no-pxe (bbolt, fsync, on disk) + %d ramfarm-agent processes --cores %d --prefetch %d (workspaces on tmpfs) on loopback, one Submit of all tasks, API polled every %s",
		cfg.agents(), cfg.AgentSlots, cfg.Prefetch, recordPoll)}
	d, err := startLoopbackDispatcher(ctx, cfg.Ramfarm, dirs.state)
	if err != nil {
		return run, err
	}
	defer d.stop()
	var agents []*daemon
	defer func() { stopAll(agents) }()
	for i := range cfg.agents() {
		a, err := startDaemon(agentCommand(ctx, cfg.Agent, d, i, cfg.AgentSlots, cfg.Prefetch, filepath.Join(dirs.scratch, fmt.Sprintf("agent%d", i))),
			filepath.Join(dirs.state, fmt.Sprintf("agent%d.log", i)))
		if err != nil {
			return run, err
		}
		agents = append(agents, a)
	}
	err = pollUntil(ctx, "agents ready", 50*time.Millisecond, 30*time.Second, func() (bool, error) {
		nodes, err := d.client.Nodes(ctx)
		return readyNodes(nodes) == cfg.agents(), err
	})
	if err != nil {
		return run, fmt.Errorf("ramfarm: %w (agent log: %s)", err, agents[0].logTail())
	}

	specs := make([]api.TaskSpec, cfg.Tasks)
	for i := range specs {
		specs[i] = api.TaskSpec{Command: taskCommand}
	}
	pids := []int{d.pid()}
	for _, a := range agents {
		pids = append(pids, a.cmd.Process.Pid)
	}
	before, err := cpuTimes(pids)
	if err != nil {
		return run, err
	}
	commitsBefore, err := d.commits(ctx)
	if err != nil {
		return run, err
	}
	start := time.Now()
	ids, err := d.client.Submit(ctx, specs)
	if err != nil {
		return run, fmt.Errorf("ramfarm: submit: %w", err)
	}
	if err := waitRecorded(ctx, d.client, ids); err != nil {
		return run, fmt.Errorf("ramfarm: %w", err)
	}
	run.Wall = time.Since(start)
	after, err := cpuTimes(pids)
	if err != nil {
		return run, err
	}
	commitsAfter, err := d.commits(ctx)
	if err != nil {
		return run, err
	}
	// Where ramfarm's own CPU goes matters on a host whose cores also run
	// the tasks: what the dispatcher and agents use, the tasks cannot.
	// The tasks' own CPU, reaped by the agents, shows that the work is the
	// same as the limit's.
	var agentCPU procTimes
	for i := 1; i < len(pids); i++ {
		u := after[i].sub(before[i])
		agentCPU.own += u.own
		agentCPU.reaped += u.reaped
	}
	run.Note = fmt.Sprintf("cpu-per-task: dispatcher=%.2fms agents=%.2fms tasks=%.2fms; %s",
		perTask(after[0].sub(before[0]).own, cfg.Tasks), perTask(agentCPU.own, cfg.Tasks), perTask(agentCPU.reaped, cfg.Tasks),
		commitsAfter.sub(commitsBefore).describe(cfg.Tasks))
	return run, nil
}

// cpuTimes reads the CPU time used so far by each process.
func cpuTimes(pids []int) ([]procTimes, error) {
	out := make([]procTimes, len(pids))
	for i, pid := range pids {
		var err error
		if out[i], err = procCPU(pid); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// recordPoll is how often the API is asked whether the results are in: it
// bounds the error of the measured wall time (20 ms in the 3 to 4 s that
// 2000 tasks take), and each poll costs the dispatcher CPU that the tasks
// on this same host then lack.
const recordPoll = 20 * time.Millisecond

func readyNodes(nodes []api.Node) int {
	n := 0
	for _, node := range nodes {
		if node.State == api.NodeReady {
			n++
		}
	}
	return n
}

// waitRecorded returns once every task in ids has a recorded result, and
// fails if one did not exit 0. Tasks go out in submission order, so it
// polls the last one alone (cheap for the dispatcher) before it lists all.
func waitRecorded(ctx context.Context, c *api.Client, ids []uint64) error {
	last := ids[len(ids)-1]
	err := pollUntil(ctx, "last task", recordPoll, time.Hour, func() (bool, error) {
		t, err := c.Task(ctx, last)
		return t.Result != nil, err
	})
	if err != nil {
		return err
	}
	return pollUntil(ctx, "all results", recordPoll, time.Hour, func() (bool, error) {
		tasks, err := listTasks(ctx, c, ids[0], len(ids))
		if err != nil {
			return false, err
		}
		return allSucceeded(tasks)
	})
}

// listTasks lists n tasks from id from on, a page at a time.
func listTasks(ctx context.Context, c *api.Client, from uint64, n int) ([]api.Task, error) {
	var out []api.Task
	for len(out) < n {
		page, err := c.Tasks(ctx, from, min(n-len(out), api.MaxList))
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return nil, fmt.Errorf("%d of %d tasks listed", len(out), n)
		}
		out = append(out, page...)
		from = page[len(page)-1].ID + 1
	}
	return out, nil
}

// allSucceeded reports whether every task has its result; a task that
// finished but not with exit 0 is an error: the run would be meaningless.
func allSucceeded(tasks []api.Task) (bool, error) {
	done := true
	for _, t := range tasks {
		switch {
		case t.Result == nil:
			done = false
		case t.Result.ExitCode != 0 || t.Result.Error != "":
			return false, fmt.Errorf("task %d: exit %d %s %s", t.ID, t.Result.ExitCode, t.Result.Error, t.Result.Stderr)
		}
	}
	return done, nil
}
