package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// workQueueMaster is a Work Queue master as its users write one, with the
// Python bindings Debian ships (python3-workqueue). It listens on the first
// free port and prints it, waits until the expected workers have joined
// and prints "ready", then submits every task, waits for all of them, and
// prints the seconds from the first submission to the last result.
const workQueueMaster = `import sys, time
import work_queue as wq

tasks, workers = int(sys.argv[1]), int(sys.argv[2])
q = wq.WorkQueue(port=0)
print(q.port, flush=True)
while q.stats.workers_connected < workers:
    q.wait(1)  # returns at once while the queue is empty
    time.sleep(0.02)
print("ready", flush=True)
start = time.time()
for i in range(tasks):
    q.submit(wq.Task(sys.argv[3]))
done = 0
while done < tasks:
    t = q.wait(5)
    if t is None:
        continue
    if t.result != wq.WORK_QUEUE_RESULT_SUCCESS or t.return_status != 0:
        sys.exit("task %d: result %d exit %d" % (t.id, t.result, t.return_status))
    done += 1
print("%.6f" % (time.time() - start), flush=True)
`

// workQueuePython is Debian's interpreter: the bindings are built for it,
// not for whatever python3 comes first on PATH.
const workQueuePython = "/usr/bin/python3"

// runWorkQueue measures Work Queue (coop-computing-tools): the master above
// and Workers work_queue_worker processes of one core each, in the peer
// namespace. The worker runs each task's command with /bin/sh -c. That is
// Work Queue's faster shape here: one worker of Workers cores ran 110
// tasks/s against 185 (2000 tasks, 4 cores, 2026-11-21).
func runWorkQueue(ctx context.Context, cfg DispatchConfig, dirs systemDirs) (SystemRun, error) {
	dir := dirs.state
	run := SystemRun{Name: "workqueue", Setup: fmt.Sprintf(
		"python3-workqueue master (one submit per task, wait loop) + %d work_queue_worker --cores 1 (workdir on tmpfs), peer netns", cfg.Workers)}
	ns, err := newPeerNamespace()
	if err != nil {
		return run, err
	}
	defer ns.close()
	script := filepath.Join(dir, "master.py")
	if err := os.WriteFile(script, []byte(workQueueMaster), 0o600); err != nil {
		return run, err
	}
	master := ns.command(ctx, workQueuePython, script, strconv.Itoa(cfg.Tasks), strconv.Itoa(cfg.Workers), taskCommand)
	master.Dir = dir
	out, err := master.StdoutPipe()
	if err != nil {
		return run, err
	}
	m, err := startDaemon(master, filepath.Join(dir, "master.log"))
	if err != nil {
		return run, err
	}
	var daemons = []*daemon{m}
	defer func() { stopAll(daemons) }()
	lines := bufio.NewScanner(out)
	port, err := nextLine(lines)
	if err != nil {
		return run, fmt.Errorf("work queue master: %w: %s", err, m.logTail())
	}
	for i := range cfg.Workers {
		work := filepath.Join(dirs.scratch, fmt.Sprintf("worker%d", i))
		if err := os.Mkdir(work, 0o700); err != nil {
			return run, err
		}
		// --single-shot: the worker exits when the master goes.
		w := ns.command(ctx, "work_queue_worker", "--cores", "1", "--single-shot", "--timeout", "60",
			"--workdir", work, "127.0.0.1", port)
		wd, err := startDaemon(w, filepath.Join(dir, fmt.Sprintf("worker%d.log", i)))
		if err != nil {
			return run, err
		}
		daemons = append(daemons, wd)
	}
	if line, err := nextLine(lines); err != nil || line != "ready" {
		return run, fmt.Errorf("work queue master: said %q (%v), want ready: %s; worker: %s", line, err, m.logTail(), daemons[1].logTail())
	}
	line, err := nextLine(lines)
	if err != nil {
		return run, fmt.Errorf("work queue master: %w: %s", err, m.logTail())
	}
	if run.Wall, err = parseSeconds(line); err != nil {
		return run, fmt.Errorf("work queue master: %w", err)
	}
	return run, nil
}

// nextLine reads one line, or says why there is none.
func nextLine(s *bufio.Scanner) (string, error) {
	if s.Scan() {
		return strings.TrimSpace(s.Text()), nil
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	return "", io.ErrUnexpectedEOF
}

// parseSeconds reads a positive number of seconds such as "0.423230".
func parseSeconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(f > 0 && f < 1e9) { // also refuses NaN and Inf
		return 0, fmt.Errorf("not a positive number of seconds: %q", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}
