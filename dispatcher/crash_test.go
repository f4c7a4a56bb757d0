package dispatcher

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
)

// TestKillNineLosesNothing runs the real dispatcher binary with real agents
// (as processes on loopback), submits tasks continuously and kills the
// dispatcher with SIGKILL at random moments, restarting it each time. At the
// end every submission that was acknowledged must have run and have exactly
// one, correct, result.
func TestKillNineLosesNothing(t *testing.T) {
	bins := buildBinaries(t, "ramfarm", "ramfarm-agent")
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	socket := filepath.Join(dir, "api.sock")
	ranLog := filepath.Join(dir, "ran")
	addr := freePort(t)

	dispLog, err := os.Create(filepath.Join(dir, "dispatcher.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(dispLog.Name())
			t.Logf("dispatcher log:\n%s", b)
		}
	})
	var mu sync.Mutex
	var disp *exec.Cmd
	startDisp := func() {
		cmd := exec.Command(bins["ramfarm"], "serve", "--no-pxe", "--agent-addr", addr,
			"--state-dir", state, "--api-socket", socket, "--metrics-addr", "",
			"--heartbeat", "500ms", "--log-level", "warn")
		cmd.Stderr = dispLog
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		disp = cmd
		mu.Unlock()
		waitFor(t, "dispatcher API", func() bool {
			_, err := api.NewClient(socket).Nodes(context.Background())
			return err == nil
		})
	}
	killDisp := func() {
		mu.Lock()
		defer mu.Unlock()
		disp.Process.Signal(syscall.SIGKILL)
		disp.Wait()
	}
	startDisp()
	t.Cleanup(killDisp)

	for i := 0; i < 3; i++ {
		agent := exec.Command(bins["ramfarm-agent"], "--dispatcher", addr,
			"--token-file", filepath.Join(state, "node-token"), "--ca-file", filepath.Join(state, "ca.crt"), "--cores", "2",
			"--mac", fmt.Sprintf("02:00:00:00:00:%02x", i+1), "--work-dir", filepath.Join(dir, fmt.Sprintf("work%d", i)))
		agent.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := agent.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	}

	// The submitter keeps submitting; what the API acknowledged is owed.
	var acked []uint64
	stop := make(chan struct{})
	submitted := make(chan struct{})
	go func() {
		defer close(submitted)
		c := api.NewClient(socket)
		for {
			select {
			case <-stop:
				return
			default:
			}
			specs := make([]api.TaskSpec, 5)
			for i := range specs {
				specs[i] = api.TaskSpec{Command: fmt.Sprintf(`echo "$RAMFARM_TASK_ID" >> %s; echo "task-$RAMFARM_TASK_ID"`, ranLog)}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			ids, err := c.Submit(ctx, specs)
			cancel()
			if err == nil {
				mu.Lock()
				acked = append(acked, ids...)
				mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	const kills = 6
	for k := 0; k < kills; k++ {
		time.Sleep(time.Duration(300+rand.IntN(1200)) * time.Millisecond)
		killDisp()
		startDisp()
	}
	close(stop)
	<-submitted

	mu.Lock()
	owed := append([]uint64(nil), acked...)
	mu.Unlock()
	if len(owed) < 50 {
		t.Fatalf("only %d tasks acknowledged across %d restarts: the test did not exercise much", len(owed), kills)
	}
	c := api.NewClient(socket)
	deadline := time.Now().Add(3 * time.Minute)
	for _, id := range owed {
		for {
			task, err := c.Task(context.Background(), id)
			if err != nil {
				t.Fatalf("acknowledged task %d: %v", id, err)
			}
			if task.Result != nil {
				if want := fmt.Sprintf("task-%d\n", id); task.Result.Stdout != want || task.Result.ExitCode != 0 {
					t.Errorf("task %d: result %+v, want output %q", id, task.Result, want)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("acknowledged task %d never finished (state %s)", id, task.State)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ran, _ := os.ReadFile(ranLog)
	runs := map[string]int{}
	for _, line := range strings.Fields(string(ran)) {
		runs[line]++
	}
	extra := 0
	for _, id := range owed {
		n := runs[fmt.Sprint(id)]
		if n == 0 {
			t.Errorf("task %d has a result but never ran", id)
		}
		extra += max(n-1, 0)
	}
	t.Logf("%d acknowledged tasks across %d kill -9 restarts: all ran, each has one result; %d re-runs after crashes", len(owed), kills, extra)
}

// buildBinaries builds the named commands from cmd/ into a temporary directory.
func buildBinaries(t *testing.T, names ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	for _, n := range names {
		path := filepath.Join(dir, n)
		if b, err := exec.Command("go", "build", "-o", path, "../cmd/"+n).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", n, err, b)
		}
		out[n] = path
	}
	return out
}
