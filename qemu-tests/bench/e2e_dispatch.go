package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DispatchConfig is an end-to-end dispatch run: the same tasks on the same
// parallelism through ramfarm, Work Queue, Slurm, a bare queue, and no
// queue at all.
type DispatchConfig struct {
	Ramfarm, Agent string // the dispatcher and agent binaries
	WorkDir        string // controllers' state: the dispatcher's store, slurmctld's state, logs
	ScratchDir     string // a tmpfs for workers' per-task directories (see systemDirs)
	Tasks          int    // tasks per system
	Workers        int    // parallelism: task slots in all (Work Queue: workers of one core; Slurm: one node with this many CPUs)
	// AgentSlots is how many of them one ramfarm agent offers; it divides
	// Workers. Workers (the default) is one agent, as a node runs one, with
	// a slot per task at once; 1 is Workers agents of one slot, as Work
	// Queue runs here: each system in its faster shape (see
	// runWorkQueue).
	AgentSlots int
	Prefetch   int           // ramfarm agents' --prefetch
	Deadline   time.Duration // per system, from its setup to its teardown
	// Only, if not empty, names the systems to run (ramfarm, limit, bare,
	// workqueue, slurm); the others are skipped and print 0. For quick
	// iterations: Slurm alone takes minutes.
	Only []string
}

// taskCommand is every task's work on every system. Each runs it the way
// it runs any task, through /bin/sh -c: ramfarm's agent, Work Queue's
// worker and our bare-queue worker by design, Slurm as a batch script and
// the limit for the sake of identical work. It names /bin/true by path:
// a plain `true` is a shell builtin, and the shell would exec nothing.
const taskCommand = "/bin/true"

// taskArgv is how the bare worker and the limit run taskCommand.
var taskArgv = []string{"/bin/sh", "-c", taskCommand}

// SystemRun is one system's measurement.
type SystemRun struct {
	Name  string
	Wall  time.Duration // from the submission of the first task until the last result is in
	Setup string        // how the system was set up, for the detail line
	Note  string        // what else was measured, if anything
}

// Rate is tasks per second over the run's wall time.
func (r SystemRun) Rate(tasks int) float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(tasks) / r.Wall.Seconds()
}

// agents is how many ramfarm agents offer cfg.AgentSlots slots each.
func (cfg DispatchConfig) agents() int { return cfg.Workers / cfg.AgentSlots }

// DispatchResult holds every system's run, in the order of the line.
type DispatchResult struct {
	Ramfarm, WorkQueue, Slurm, Bare, Limit SystemRun
}

// Dispatch measures every system in turn. Each runs alone, with its own
// deadline, and everything it started is stopped before the next begins.
func Dispatch(ctx context.Context, cfg DispatchConfig) (DispatchResult, error) {
	if cfg.Tasks < 1 || cfg.Workers < 1 {
		return DispatchResult{}, fmt.Errorf("need at least 1 task and 1 worker, have %d and %d", cfg.Tasks, cfg.Workers)
	}
	if cfg.AgentSlots == 0 {
		cfg.AgentSlots = cfg.Workers
	}
	if cfg.AgentSlots < 1 || cfg.Workers%cfg.AgentSlots != 0 {
		return DispatchResult{}, fmt.Errorf("%d slots per agent do not divide %d workers", cfg.AgentSlots, cfg.Workers)
	}
	if err := requireRoot(); err != nil {
		return DispatchResult{}, err
	}
	var res DispatchResult
	// ramfarm and the limit run back to back: of-limit compares them, and
	// on a shared machine the load drifts over the minutes Slurm takes.
	runs := []struct {
		name string
		out  *SystemRun
		run  func(context.Context, DispatchConfig, systemDirs) (SystemRun, error)
	}{
		{"ramfarm", &res.Ramfarm, runRamfarm},
		{"limit", &res.Limit, runLimit},
		{"bare", &res.Bare, runBeanstalk},
		{"workqueue", &res.WorkQueue, runWorkQueue},
		{"slurm", &res.Slurm, runSlurm},
	}
	for _, r := range runs {
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, r.name) {
			r.out.Name = r.name
			continue
		}
		if err := runSystem(ctx, cfg, r.out, r.run); err != nil {
			return res, err
		}
	}
	return res, nil
}

// systemDirs are where one system keeps its files. Controllers keep their
// state on disk (state), where the dispatcher's store must be for its
// fsync to mean anything. Workers make a directory per task (ramfarm's
// agent a workspace, Work Queue's worker a sandbox, slurmd a spool
// directory with the job script): those go to scratch, a tmpfs, as on a
// ramfarm node, which runs from RAM. On this machine's disk, creating and
// removing a directory costs about as much as spawning the task itself.
type systemDirs struct {
	state, scratch string
}

// runSystem runs one system with its own directories and deadline; the
// scratch directory goes when it ends.
func runSystem(ctx context.Context, cfg DispatchConfig, out *SystemRun, run func(context.Context, DispatchConfig, systemDirs) (SystemRun, error)) error {
	state, err := os.MkdirTemp(cfg.WorkDir, "dispatch-")
	if err != nil {
		return err
	}
	scratch, err := os.MkdirTemp(cfg.ScratchDir, "ramfarm-bench-dispatch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	ctx, cancel := context.WithTimeout(ctx, cfg.Deadline)
	defer cancel()
	*out, err = run(ctx, cfg, systemDirs{state: state, scratch: scratch})
	return err
}

// RatioVsBest is ramfarm's rate over the better of the two batch systems'.
func RatioVsBest(ramfarm, workQueue, slurm float64) float64 {
	best := max(workQueue, slurm)
	if best <= 0 {
		return 0
	}
	return ramfarm / best
}

// OfLimit is the fraction of the spawn limit that ramfarm reached.
func OfLimit(ramfarm, limit float64) float64 {
	if limit <= 0 {
		return 0
	}
	return ramfarm / limit
}

// runLimit spawns the task Workers-way in parallel, with no queue at all:
// the most any dispatcher could reach on this machine.
func runLimit(ctx context.Context, cfg DispatchConfig, _ systemDirs) (SystemRun, error) {
	before, err := procCPU(os.Getpid())
	if err != nil {
		return SystemRun{}, err
	}
	start := time.Now()
	err = runParallel(ctx, cfg.Tasks, cfg.Workers, func() error {
		return exec.CommandContext(ctx, taskArgv[0], taskArgv[1:]...).Run()
	})
	run := SystemRun{Name: "limit", Wall: time.Since(start),
		Setup: fmt.Sprintf("%d goroutines of the bench, os/exec, no queue", cfg.Workers)}
	if err != nil {
		return run, err
	}
	// As for ramfarm: the spawner's CPU, and the tasks'.
	after, err := procCPU(os.Getpid())
	used := after.sub(before)
	run.Note = fmt.Sprintf("cpu-per-task: spawner=%.2fms tasks=%.2fms", perTask(used.own, cfg.Tasks), perTask(used.reaped, cfg.Tasks))
	return run, err
}

// runParallel calls do n times from workers goroutines and returns the
// first error.
func runParallel(ctx context.Context, n, workers int, do func() error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				if err := do(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}
