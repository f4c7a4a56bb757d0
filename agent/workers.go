package agent

// workers runs tasks on goroutines kept from one task to the next.
//
// A task's goroutine needs a deep stack (os/exec, the poller, TLS for the
// result): a fresh goroutine grew and copied its stack several times per
// task, 6% of the agent's CPU running /bin/true back to back. A kept
// goroutine has its stack grown already. There are never more of them than
// tasks ever ran at once on this node: the slots, the prefetch queue, and
// the rare task a dispatcher sent beyond them.
type workers struct {
	idle chan func() // unbuffered: a send succeeds only into an idle worker's hands
}

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
	for {
		fn()
		fn = <-w.idle
	}
}
