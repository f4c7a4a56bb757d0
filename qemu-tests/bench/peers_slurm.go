package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// slurmConf is a single-node Slurm (slurm-wlm 22.05) with everything in dir
// and nothing beyond what it needs to run, except batch_sched_delay=0, from
// SchedMD's high-throughput guide: at its default (3 s) slurmctld starts
// the next pending jobs only every 3 s, at 0 every second. Notes:
//   - SlurmdParameters=config_overrides: the node offers cpus CPUs
//     whatever the host has (2 here), the same parallelism as the others.
//   - MaxArraySize: the default, 1001, refuses larger job arrays.
//   - MinJobAge=3600: finished jobs stay listed for the check after the
//     run; at the default, 300 s, a long run's first jobs are forgotten.
//   - no accounting, job completion log, cgroups or MPI: none of them is
//     needed to run a batch job, and each would only add work.
func slurmConf(dir, spool, mungeSocket string, cpus, tasks int) string {
	lines := []string{
		"ClusterName=ramfarmbench",
		"SlurmctldHost=localhost",
		"SlurmUser=root",
		"AuthType=auth/munge",
		"CredType=cred/munge",
		"AuthInfo=socket=" + mungeSocket,
		"StateSaveLocation=" + filepath.Join(dir, "slurmctld"),
		"SlurmdSpoolDir=" + spool,
		"SlurmctldPidFile=" + filepath.Join(dir, "slurmctld.pid"),
		"SlurmdPidFile=" + filepath.Join(dir, "slurmd.pid"),
		"SlurmctldLogFile=" + filepath.Join(dir, "slurmctld.log"),
		"SlurmdLogFile=" + filepath.Join(dir, "slurmd.log"),
		"ProctrackType=proctrack/linuxproc",
		"TaskPlugin=task/none",
		"JobAcctGatherType=jobacct_gather/none",
		"AccountingStorageType=accounting_storage/none",
		"JobCompType=jobcomp/none",
		"MpiDefault=none",
		"SelectType=select/cons_tres",
		"SelectTypeParameters=CR_CPU",
		"SlurmdParameters=config_overrides",
		"SchedulerParameters=batch_sched_delay=0",
		"ReturnToService=2",
		fmt.Sprintf("MaxArraySize=%d", tasks+1),
		"MinJobAge=3600",
		fmt.Sprintf("MaxJobCount=%d", max(10000, 2*tasks)),
		fmt.Sprintf("NodeName=localhost CPUs=%d State=UNKNOWN", cpus),
		"PartitionName=bench Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
	}
	return strings.Join(lines, "\n") + "\n"
}

// slurmJob is each array task's batch script: the task, through /bin/sh
// like everywhere else.
const slurmJob = "#!/bin/sh\n" + taskCommand + "\n"

// slurmPoll is how often squeue is asked whether jobs remain: Slurm starts
// jobs on a 1 s cycle, so this costs it little accuracy.
const slurmPoll = 100 * time.Millisecond

// runSlurm measures Slurm: munged with a fresh key, slurmctld and one slurmd
// with Workers CPUs, all in the peer namespace with their state in dir;
// the tasks go in as one job array (how Slurm's users submit many small
// jobs: one submission, one RPC), timed from sbatch until squeue shows no
// job left.
func runSlurm(ctx context.Context, cfg DispatchConfig, dirs systemDirs) (SystemRun, error) {
	dir := dirs.state
	run := SystemRun{Name: "slurm", Setup: fmt.Sprintf(
		"slurmctld (state on disk) + 1 slurmd CPUs=%d (spool on tmpfs) select/cons_tres batch_sched_delay=0, munge, sbatch --array=1-%d, squeue polled every %s, peer netns",
		cfg.Workers, cfg.Tasks, slurmPoll)}
	// munged wants every directory above its socket searchable by all,
	// which the benchmark's private work directory is not: the socket
	// gets a directory of its own.
	sockDir, err := os.MkdirTemp("", "ramfarm-bench-munge-")
	if err != nil {
		return run, err
	}
	defer os.RemoveAll(sockDir)
	if err := os.Chmod(sockDir, 0o755); err != nil {
		return run, err
	}
	socket := filepath.Join(sockDir, "munge.socket")
	if err := os.Mkdir(filepath.Join(dir, "slurmctld"), 0o700); err != nil {
		return run, err
	}
	conf := filepath.Join(dir, "slurm.conf")
	files := map[string]string{conf: slurmConf(dir, dirs.scratch, socket, cfg.Workers, cfg.Tasks), filepath.Join(dir, "job.sh"): slurmJob}
	key := filepath.Join(dir, "munge.key")
	files[key] = rand.Text() + rand.Text() // 52 random base32 characters: 260 bits
	for name, content := range files {
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			return run, err
		}
	}
	ns, err := newPeerNamespace()
	if err != nil {
		return run, err
	}
	defer ns.close()
	var daemons []*daemon
	defer func() { stopAll(daemons) }()
	starts := []struct {
		log  string
		args []string
	}{
		{"munged.out", []string{"munged", "--foreground", "--key-file=" + key,
			"--socket=" + socket, "--pid-file=" + filepath.Join(dir, "munged.pid"),
			"--log-file=" + filepath.Join(dir, "munged.log"), "--seed-file=" + filepath.Join(dir, "munged.seed")}},
		{"slurmctld.out", []string{"slurmctld", "-D", "-c", "-f", conf}},
		{"slurmd.out", []string{"slurmd", "-D", "-N", "localhost", "-f", conf}},
	}
	for _, s := range starts {
		cmd := ns.command(ctx, s.args[0], s.args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SLURM_CONF="+conf)
		d, err := startDaemon(cmd, filepath.Join(dir, s.log))
		if err != nil {
			return run, err
		}
		daemons = append(daemons, d)
	}
	slurm := func(name string, args ...string) (string, error) {
		cmd := ns.command(ctx, name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SLURM_CONF="+conf)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, tail(string(out), 400))
		}
		return string(out), nil
	}
	err = pollUntil(ctx, "slurm node idle", 200*time.Millisecond, 60*time.Second, func() (bool, error) {
		out, _ := slurm("sinfo", "-h", "-o", "%T")
		return strings.TrimSpace(out) == "idle", nil
	})
	if err != nil {
		return run, fmt.Errorf("%w; slurmctld: %s; slurmd: %s", err, daemons[1].logTail(), daemons[2].logTail())
	}

	start := time.Now()
	if _, err := slurm("sbatch", "--quiet", "--array=1-"+strconv.Itoa(cfg.Tasks), "--output=/dev/null", "--error=/dev/null", "job.sh"); err != nil {
		return run, err
	}
	err = pollUntil(ctx, "slurm jobs", slurmPoll, cfg.Deadline, func() (bool, error) {
		out, err := slurm("squeue", "-h", "-o", "%i")
		return strings.TrimSpace(out) == "", err
	})
	if err != nil {
		return run, err
	}
	run.Wall = time.Since(start)
	// Finished jobs stay listed for MinJobAge: check how each ended.
	out, err := slurm("squeue", "-h", "-r", "-t", "all", "-o", "%T")
	if err != nil {
		return run, err
	}
	if states := countStates(out); states["COMPLETED"] != cfg.Tasks {
		return run, fmt.Errorf("slurm: job states %v, want %d COMPLETED", states, cfg.Tasks)
	}
	return run, nil
}

// countStates counts the lines of squeue's state column.
func countStates(out string) map[string]int {
	states := map[string]int{}
	for _, f := range strings.Fields(out) {
		states[f]++
	}
	return states
}
