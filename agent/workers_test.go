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

// Tasks that overlap get a goroutine each; once a task is done, run hands
// the next one to its goroutine.
func TestWorkersKeepGoroutinesForTheNextTask(t *testing.T) {
	w := newWorkers()
	ids := make(chan string, 1)
	ran := func() string { // the goroutine of the task just run
		select {
		case id := <-ids:
			return id
		case <-time.After(10 * time.Second):
			t.Fatal("a task given to the workers never ran")
			return ""
		}
	}
	release := make(chan struct{})
	w.run(func() { ids <- goroutineID(); <-release })
	first := ran()
	w.run(func() { ids <- goroutineID() }) // the first still runs
	second := ran()
	if second == first {
		t.Fatalf("two overlapping tasks ran on goroutine %s", first)
	}
	close(release)

	// run starts a new goroutine while no worker is idle yet; within a
	// little while one is, and gets the task.
	deadline := time.Now().Add(10 * time.Second)
	for seen := map[string]bool{first: true, second: true}; ; {
		w.run(func() { ids <- goroutineID() })
		got := ran()
		if seen[got] {
			return // a goroutine that ran a task ran this one too
		}
		seen[got] = true
		if time.Now().After(deadline) {
			t.Fatalf("%d tasks in a row each ran on a new goroutine", len(seen))
		}
		time.Sleep(time.Millisecond)
	}
}
