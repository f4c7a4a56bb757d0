package bench

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
)

func TestRatioVsBestTakesTheBetterBatchSystem(t *testing.T) {
	for _, c := range []struct {
		rf, wq, slurm, want float64
	}{
		{2000, 200, 4, 10},
		{2000, 4, 400, 5},
		{100, 0, 0, 0}, // no peer figure: no ratio rather than +Inf
	} {
		if got := RatioVsBest(c.rf, c.wq, c.slurm); got != c.want {
			t.Errorf("RatioVsBest(%v, %v, %v) = %v, want %v", c.rf, c.wq, c.slurm, got, c.want)
		}
	}
	if got := OfLimit(1800, 2400); got != 0.75 {
		t.Errorf("OfLimit(1800, 2400) = %v, want 0.75", got)
	}
	if got := OfLimit(1800, 0); got != 0 {
		t.Errorf("OfLimit(1800, 0) = %v, want 0", got)
	}
}

func TestSystemRunRate(t *testing.T) {
	if got := (SystemRun{Wall: 2 * time.Second}).Rate(500); got != 250 {
		t.Errorf("rate = %v, want 250", got)
	}
	if got := (SystemRun{}).Rate(500); got != 0 {
		t.Errorf("rate of an unmeasured run = %v, want 0", got)
	}
}

func TestSlurmConfKeepsEverythingInItsDirectory(t *testing.T) {
	conf := slurmConf("/tmp/x", "/tmp/x/spool", "/tmp/m/munge.socket", 4, 2000)
	for _, want := range []string{
		"NodeName=localhost CPUs=4 ", "MaxArraySize=2001\n", "MinJobAge=3600\n", "SelectType=select/cons_tres\n",
		"AuthInfo=socket=/tmp/m/munge.socket\n", "StateSaveLocation=/tmp/x/slurmctld\n",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("slurm.conf lacks %q:\n%s", want, conf)
		}
	}
	for line := range strings.Lines(conf) {
		if k, v, _ := strings.Cut(line, "="); strings.HasSuffix(k, "File") || strings.HasSuffix(k, "Dir") || strings.HasSuffix(k, "Location") {
			if !strings.HasPrefix(v, "/tmp/x/") {
				t.Errorf("%s is outside the run's directory: %s", k, v)
			}
		}
	}
}

func TestCountStates(t *testing.T) {
	got := countStates("COMPLETED\nCOMPLETED\nFAILED\n")
	if got["COMPLETED"] != 2 || got["FAILED"] != 1 || len(got) != 2 {
		t.Errorf("countStates = %v", got)
	}
}

func TestParseSeconds(t *testing.T) {
	if d, err := parseSeconds("0.5\n"); err != nil || d != 500*time.Millisecond {
		t.Errorf(`parseSeconds("0.5") = %v, %v`, d, err)
	}
	for _, bad := range []string{"", "-1", "0", "ready", "NaN"} {
		if _, err := parseSeconds(bad); err == nil {
			t.Errorf("parseSeconds(%q) accepted", bad)
		}
	}
}

func TestAllSucceeded(t *testing.T) {
	ok := &api.Result{}
	if done, err := allSucceeded([]api.Task{{ID: 1, Result: ok}, {ID: 2}}); done || err != nil {
		t.Errorf("one task pending: done=%v err=%v", done, err)
	}
	if done, err := allSucceeded([]api.Task{{ID: 1, Result: ok}}); !done || err != nil {
		t.Errorf("all done: done=%v err=%v", done, err)
	}
	if _, err := allSucceeded([]api.Task{{ID: 1, Result: &api.Result{ExitCode: 127}}}); err == nil {
		t.Error("a task that exited 127 counted as success")
	}
}

func TestParseBeanstalkReplies(t *testing.T) {
	if id, size, err := parseReserved("RESERVED 12 9"); err != nil || id != 12 || size != 9 {
		t.Errorf("parseReserved = %d, %d, %v", id, size, err)
	}
	for _, bad := range []string{"", "RESERVED 1", "TIMED_OUT", "RESERVED x 9", "RESERVED 1 -1", "RESERVED 1 99999999999"} {
		if _, _, err := parseReserved(bad); err == nil {
			t.Errorf("parseReserved(%q) accepted", bad)
		}
	}
	if id, err := parseInserted("INSERTED 7"); err != nil || id != 7 {
		t.Errorf("parseInserted = %d, %v", id, err)
	}
	for _, bad := range []string{"JOB_TOO_BIG", "INSERTED", "BURIED 3"} {
		if _, err := parseInserted(bad); err == nil {
			t.Errorf("parseInserted(%q) accepted", bad)
		}
	}
}

// fakeBeanstalkd answers a scripted conversation on one side of a pipe: it
// checks each command line it reads and writes the reply given for it.
func fakeBeanstalkd(nc net.Conn, script [][2]string) <-chan error {
	done := make(chan error, 1)
	go func() {
		r := bufio.NewReader(nc)
		for _, step := range script {
			line, err := r.ReadString('\n')
			if err != nil {
				done <- err
				return
			}
			if line != step[0] {
				done <- errors.New("got command " + line + ", want " + step[0])
				return
			}
			if _, err := nc.Write([]byte(step[1])); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

func TestBeanstalkWorkerRunsAndDeletesJobs(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	body := taskCommand
	srv := fakeBeanstalkd(server, [][2]string{
		{"reserve\r\n", "RESERVED 5 9\r\n" + body + "\r\n"},
		{"delete 5\r\n", "DELETED\r\n"},
		{"reserve\r\n", "RESERVED 6 9\r\n" + body + "\r\n"},
		{"delete 6\r\n", "NOT_FOUND\r\n"},
	})
	var ran atomic.Int64
	err := beanstalkWorker(context.Background(), newBeanstalkConn(client), func() { ran.Add(1) })
	if err == nil || !strings.Contains(err.Error(), "NOT_FOUND") {
		t.Errorf("worker ended with %v, want the NOT_FOUND of delete 6", err)
	}
	if ran.Load() != 1 {
		t.Errorf("%d jobs counted done, want 1", ran.Load())
	}
	if err := <-srv; err != nil {
		t.Error(err)
	}
}

func TestBeanstalkWorkerRefusesForeignJobs(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	srv := fakeBeanstalkd(server, [][2]string{{"reserve\r\n", "RESERVED 1 5\r\nrm -r\r\n"}})
	err := beanstalkWorker(context.Background(), newBeanstalkConn(client), func() { t.Error("a foreign job counted") })
	if err == nil || !strings.Contains(err.Error(), "not the benchmark's") {
		t.Errorf("worker ended with %v, want a refusal", err)
	}
	if err := <-srv; err != nil {
		t.Error(err)
	}
}

func TestPutAllPipelinesAndChecksEveryReply(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	put := "put 0 0 60 9\r\n"
	srv := make(chan error, 1)
	go func() {
		r := bufio.NewReader(server)
		for i := range 3 {
			line, err := r.ReadString('\n')
			if err == nil && line != put {
				err = errors.New("bad put line " + line)
			}
			if err == nil {
				line, err = r.ReadString('\n')
			}
			if err == nil && line != taskCommand+"\r\n" {
				err = errors.New("bad body " + line)
			}
			reply := "INSERTED 1\r\n"
			if i == 2 {
				reply = "JOB_TOO_BIG\r\n"
			}
			if err == nil {
				_, err = server.Write([]byte(reply))
			}
			if err != nil {
				srv <- err
				return
			}
		}
		srv <- nil
	}()
	err := newBeanstalkConn(client).putAll(taskCommand, 3)
	if err == nil || !strings.Contains(err.Error(), "JOB_TOO_BIG") {
		t.Errorf("putAll = %v, want the third put's JOB_TOO_BIG", err)
	}
	if err := <-srv; err != nil {
		t.Error(err)
	}
}

func TestRunParallelRunsEachOnceAndStopsAtAnError(t *testing.T) {
	var calls atomic.Int64
	if err := runParallel(context.Background(), 100, 4, func() error { calls.Add(1); return nil }); err != nil || calls.Load() != 100 {
		t.Errorf("runParallel: %v after %d calls, want nil after 100", err, calls.Load())
	}
	boom := errors.New("boom")
	calls.Store(0)
	err := runParallel(context.Background(), 100, 4, func() error {
		if calls.Add(1) == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Errorf("runParallel = %v, want boom", err)
	}
}

func TestAgentSlotsMustDivideWorkers(t *testing.T) {
	_, err := Dispatch(context.Background(), DispatchConfig{Tasks: 1, Workers: 4, AgentSlots: 3})
	if err == nil || !strings.Contains(err.Error(), "do not divide") {
		t.Fatalf("3 slots per agent for 4 workers: got %v, want a refusal", err)
	}
	if got := (DispatchConfig{Workers: 4, AgentSlots: 2}).agents(); got != 2 {
		t.Fatalf("4 workers of 2 slots per agent: %d agents, want 2", got)
	}
}
