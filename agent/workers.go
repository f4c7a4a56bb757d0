package agent

import "time"

// workers runs tasks on goroutines kept from one task to the next.
//
// A task's goroutine needs a deep stack (os/exec, the poller, TLS for the
// result): a fresh goroutine grew and copied its stack several times per
// task, 6% of the agent's CPU running /bin/true back to back. A kept
// goroutine mostly has its stack grown already (the collector may shrink
// the stack of one that waits long; it grows again once). There are never
// more of them than tasks ran at once lately on this node, and a worker
// idle for workerIdle ends, so none outlives the agent's work for long.
type workers struct {
	idle chan func() // unbuffered: a send succeeds only into an idle worker's hands
}

// workerIdle is how long a worker waits for a next task before it ends.
const workerIdle = time.Minute

func newWorkers() *workers { return &workers{idle: make(chan func())} }

// run runs fn on an idle worker, or on a new one if none is idle.
func (w *workers) run(fn func()) {
	select {
	case w.idle <- fn:
	default:
		go w.work(fn)
	}
}

func (w *workers) work(fn func()) {
	timer := time.NewTimer(workerIdle)
	defer timer.Stop()
	for {
		fn()
		timer.Reset(workerIdle)
		select {
		case fn = <-w.idle:
		case <-timer.C:
			return
		}
	}
}
