package agent

import (
	"bytes"
	"runtime"
	"testing"
	"time"
)

// goroutineID reads the calling goroutine's number from its stack header.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	return string(bytes.Fields(buf)[1])
}

// A finished task's goroutine runs the next task; tasks that overlap get a
// goroutine each.
func TestWorkersKeepGoroutinesForTheNextTask(t *testing.T) {
	w := newWorkers()
	ids := make(chan string, 3)
	release := make(chan struct{})
	w.run(func() { ids <- goroutineID(); <-release })
	w.run(func() { ids <- goroutineID() }) // the first still runs
	first, second := <-ids, <-ids
	if first == second {
		t.Fatalf("two overlapping tasks ran on goroutine %s", first)
	}
	close(release)

	// Once a worker is idle, run hands it the task. Wait for one without
	// run, which would start a new goroutine when none is idle yet.
	third := func() { ids <- goroutineID() }
	deadline := time.Now().Add(10 * time.Second)
	for handed := false; !handed; {
		select {
		case w.idle <- third:
			handed = true
		default:
			if time.Now().After(deadline) {
				t.Fatal("no worker went idle after its task")
			}
			time.Sleep(time.Millisecond)
		}
	}
	if got := <-ids; got != first && got != second {
		t.Fatalf("the next task ran on goroutine %s, not on the finished tasks' %s or %s", got, first, second)
	}
}
