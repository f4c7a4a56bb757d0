package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/dispatcher/store"
	"github.com/ramfarm/ramfarm/protocol"
)

// Submit stores tasks, queues them and returns their ids. The tasks are on
// disk before Submit returns, so an acknowledged submission survives a crash.
func (d *Dispatcher) Submit(specs []api.TaskSpec) ([]uint64, error) {
	if len(specs) == 0 || len(specs) > api.MaxSubmit {
		return nil, fmt.Errorf("%w: submit 1 to %d tasks, not %d", api.ErrInvalid, api.MaxSubmit, len(specs))
	}
	now := time.Now().UTC()
	recs := make([]store.TaskSpec, len(specs))
	for i, s := range specs {
		if strings.TrimSpace(s.Command) == "" {
			return nil, fmt.Errorf("%w: task %d has no command", api.ErrInvalid, i+1)
		}
		if s.Timeout < 0 {
			return nil, fmt.Errorf("%w: task %d has a negative timeout", api.ErrInvalid, i+1)
		}
		if s.Priority < api.MinPriority || s.Priority > api.MaxPriority {
			return nil, fmt.Errorf("%w: task %d: priority %d is outside %d..%d", api.ErrInvalid, i+1, s.Priority, api.MinPriority, api.MaxPriority)
		}
		if s.Retries < 0 || s.Retries > api.MaxRetries {
			return nil, fmt.Errorf("%w: task %d: retries %d is outside 0..%d", api.ErrInvalid, i+1, s.Retries, api.MaxRetries)
		}
		if err := s.Limits.Validate(); err != nil {
			return nil, fmt.Errorf("%w: task %d: %v", api.ErrInvalid, i+1, err)
		}
		recs[i] = store.TaskSpec{
			Command: s.Command, Timeout: s.Timeout, Priority: s.Priority, Retries: s.Retries,
			Limits: s.Limits, Submitted: now,
		}
	}
	// Backpressure: past the bound, the submitter waits, not our memory.
	// Checked before storing, so a refused submission leaves no trace; two
	// racing submissions may overshoot the bound by one batch, which is
	// harmless.
	d.mu.Lock()
	queued := d.queue.Len()
	d.mu.Unlock()
	if queued+len(recs) > d.cfg.MaxQueued {
		return nil, fmt.Errorf("%w: %d tasks queued, limit %d; submit again once some finish", api.ErrBusy, queued, d.cfg.MaxQueued)
	}
	d.admit.Lock() // see Cancel
	defer d.admit.Unlock()
	ids, err := d.store.AddTasks(recs)
	if err != nil {
		return nil, err
	}
	d.counters.submitted.Add(uint64(len(ids)))
	d.specs.addAll(ids, recs) // before they can go out
	d.mu.Lock()
	for i, id := range ids {
		d.queue.Add(recs[i].Priority, id)
	}
	d.dispatchLocked()
	d.mu.Unlock()
	d.log.Info("tasks submitted", "count", len(ids), "first", ids[0])
	return ids, nil
}

// dispatchLocked hands out tasks while some node has asked for work and some
// task is free, one task per node in turn so work spreads round-robin.
//
// It only decides: it leases the task and queues a handout on the node's
// connection. The connection's writer reads the command from the store and
// sends it (see sendHandout), so no store read happens under d.mu, which
// every agent connection contends for.
func (d *Dispatcher) dispatchLocked() {
	for {
		n := d.nextHungryNode()
		if n == nil {
			d.starved = false
			return
		}
		id, ok := d.queue.Next(d.isLeased)
		if !ok {
			// Every task in the circle is leased, many of them to results
			// still on their way to disk (an agent frees its slot with the
			// result, before the ack). The next result recorded makes room.
			d.starved = true
			return
		}
		d.tries[id]++
		l := d.lease(n, id, d.tries[id])
		n.credits--
		n.conn.send(&handout{node: n, ref: protocol.TaskRef{ID: id, Attempt: l.attempt}})
	}
}

// feedStarvedLocked hands out work after a task left the circle, if
// nodes were left waiting for lack of a free task: the task that enters in
// its place is theirs. Otherwise it does nothing, so a result costs no walk
// over every node.
func (d *Dispatcher) feedStarvedLocked() {
	if d.starved {
		d.dispatchLocked()
	}
}

// handout is a leased task on its way to a node, before its command is read.
// It travels in the connection's send queue in place of the Task message.
type handout struct {
	node *node
	ref  protocol.TaskRef
}

func (*handout) Type() protocol.Type { return protocol.TypeTask }

// tasksFor turns handouts into Task messages, from the spec cache or else
// reading their commands from the store in one go. out[i] is nil if hs[i]
// is not to be sent after all: its record is unreadable (it leaves the
// queue rather than go out as something we cannot describe) or it already
// has a result. The lease then ends and the node gets its credit back.
func (d *Dispatcher) tasksFor(hs []*handout) []*protocol.Task {
	out := make([]*protocol.Task, len(hs))
	failed := make([]error, len(hs))
	var misses []int // indexes in hs of tasks to read from the store
	for i, h := range hs {
		if s, ok := d.specs.get(h.ref.ID); ok {
			out[i] = taskMessage(h.ref, s)
		} else {
			misses = append(misses, i)
		}
	}
	if len(misses) > 0 {
		ids := make([]uint64, len(misses))
		for j, i := range misses {
			ids[j] = hs[i].ref.ID
		}
		err := d.store.ForSending(ids, func(j int, t store.Sendable, err error) {
			switch i := misses[j]; {
			case err != nil:
				failed[i] = err
			case !t.Done:
				out[i] = taskMessage(hs[i].ref, t)
			}
		})
		if err != nil {
			for _, i := range misses {
				out[i], failed[i] = nil, err
			}
		}
	}
	for i, h := range hs {
		if out[i] == nil {
			d.unsendable(h, failed[i])
		}
	}
	return out
}

func taskMessage(ref protocol.TaskRef, s store.Sendable) *protocol.Task {
	return &protocol.Task{TaskRef: ref, Command: s.Command, Timeout: protocol.Duration(s.Timeout), Limits: s.Limits}
}

// unsendable ends the lease of a handout that is not sent: err is why its
// record could not be read, or nil if the task finished meanwhile.
func (d *Dispatcher) unsendable(h *handout, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.log.Error("cannot load queued task; dropping it from the queue", "task", h.ref.ID, "err", err)
		d.dequeueLocked(h.ref.ID)
	}
	if d.endLeaseLocked(h.ref.ID, h.node, h.ref.Attempt) {
		// The handout took a credit the agent will never spend: give it
		// back, unless the node is restarting and is to get no more work.
		if h.node.conn != nil && h.node.info.State != api.NodeRebooting {
			h.node.credits++
		}
		d.dispatchLocked()
	}
}

// endLeaseLocked ends the lease of attempt of task id on n, if that lease
// is still on, and reports whether it was. A lease ends with its own
// attempt: its result, a handout that was not sent, or the loss of its node
// (releaseLeases); never with another attempt's result or a cancellation,
// which would leave the node's credit for an unsent handout unaccounted.
func (d *Dispatcher) endLeaseLocked(id uint64, n *node, attempt int) bool {
	l, ok := d.leases[id]
	if !ok || l.node != n || l.attempt != attempt {
		return false
	}
	delete(d.leases, id)
	delete(n.leases, id)
	return true
}

// dequeueLocked takes a task that has its result for good out of the queue
// and forgets what the queue kept of it.
func (d *Dispatcher) dequeueLocked(id uint64) {
	d.queue.Done(id)
	d.specs.drop(id)
	delete(d.tries, id)
}

// nextHungryNode returns the next node, in round-robin order, that is
// connected and has credits, or nil.
func (d *Dispatcher) nextHungryNode() *node {
	for i := 0; i < len(d.order); i++ {
		n := d.order[(d.next+i)%len(d.order)]
		if n.conn != nil && n.credits > 0 && !n.info.Drained {
			d.next = (d.next + i + 1) % len(d.order)
			return n
		}
	}
	return nil
}

func (d *Dispatcher) isLeased(id uint64) bool {
	_, ok := d.leases[id]
	return ok
}

func (d *Dispatcher) lease(n *node, id uint64, attempt int) *lease {
	l := &lease{node: n, attempt: attempt}
	d.leases[id] = l
	n.leases[id] = l
	if attempt > d.tries[id] {
		d.tries[id] = attempt
	}
	return l
}

// releaseLeases returns n's running tasks to the queue; the circular list
// brings them round to another node. It reports whether any were released.
func (d *Dispatcher) releaseLeases(n *node, why string) bool {
	for id := range n.leases {
		delete(d.leases, id)
		// A lease may outlive its task's result (see endLeaseLocked); such
		// a task is out of the queue, and its try count with it.
		if _, queued := d.tries[id]; queued {
			d.counters.requeued.Add(1)
			d.log.Info("task returned to the queue", "task", id, "node", n.name, "reason", why)
		}
	}
	released := len(n.leases) > 0
	clear(n.leases)
	return released
}

// recordResult stores a result (exactly once per task) and settles the
// lease, then calls done, on the store's committer goroutine. done gets nil
// when the agent may forget the result: stored now, stored before, or for
// a task that does not exist.
func (d *Dispatcher) recordResult(n *node, r *protocol.Result, done func(error)) {
	rec := store.Result{
		Node: n.name, Attempt: r.Attempt, ExitCode: r.ExitCode, Error: r.Error,
		Stdout: r.Stdout, Stderr: r.Stderr, Started: r.Started,
		Duration: r.Duration.Std(), Recorded: time.Now().UTC(),
	}
	d.store.RecordResultThen(r.ID, rec, func(outcome store.Outcome, err error) {
		done(d.settle(n, r, outcome, err))
	})
}

// settle updates the dispatcher after the store said what became of a
// result.
func (d *Dispatcher) settle(n *node, r *protocol.Result, outcome store.Outcome, err error) error {
	if errors.Is(err, store.ErrNoTask) {
		d.log.Warn("result for unknown task dropped", "node", n.name, "task", r.ID)
		return nil
	}
	if err != nil {
		return err
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	// Only this attempt's lease ends here (see endLeaseLocked). Another
	// attempt, leased since this one's node was lost, runs on: its result
	// will be a duplicate, and with it the agent asks for its next task; if
	// its handout has not gone out yet, the writer drops it and gives the
	// node its credit back.
	d.endLeaseLocked(r.ID, n, r.Attempt)
	switch {
	case outcome == store.Duplicate:
		d.counters.duplicates.Add(1)
		d.log.Info("duplicate result ignored", "task", r.ID, "node", n.name, "attempt", r.Attempt)
		return nil
	case outcome == store.Retry:
		// Still queued: the circle brings it round to a node again.
		d.counters.retried.Add(1)
		d.log.Info("task failed; retrying", "task", r.ID, "node", n.name, "attempt", r.Attempt, "exit", r.ExitCode, "error", r.Error)
		d.dispatchLocked()
		return nil
	case r.ExitCode == 0 && r.Error == "":
		d.counters.succeeded.Add(1)
	default:
		d.counters.failed.Add(1)
	}
	d.dequeueLocked(r.ID)
	d.feedStarvedLocked()
	if d.log.Enabled(context.Background(), slog.LevelDebug) { // its arguments cost allocations
		d.log.Debug("result recorded", "task", r.ID, "node", n.name, "exit", r.ExitCode)
	}
	return nil
}

// Cancel ends a task that has no result yet: it records the result
// "cancelled" (so a result that arrives later is a duplicate, dropped),
// takes the task out of the queue, and tells the node running it, if any,
// to kill it.
func (d *Dispatcher) Cancel(id uint64) (api.Task, error) {
	// Not between a submission's store write and its queueing: the task
	// would be queued after it was taken out.
	d.admit.Lock()
	defer d.admit.Unlock()
	outcome, err := d.store.RecordFinal(id, store.Result{ExitCode: -1, Error: api.CancelledError, Recorded: time.Now().UTC()})
	switch {
	case errors.Is(err, store.ErrNoTask):
		return api.Task{}, fmt.Errorf("%w: %v", api.ErrNotFound, err)
	case err != nil:
		return api.Task{}, err
	case outcome == store.Duplicate:
		return api.Task{}, fmt.Errorf("%w: task %d has finished already", api.ErrConflict, id)
	}
	d.mu.Lock()
	d.dequeueLocked(id)
	d.feedStarvedLocked()
	if l, ok := d.leases[id]; ok && l.node.conn != nil {
		// The lease stays until the attempt ends (see endLeaseLocked). The
		// command follows the task on the connection's queue: an agent
		// that got the task kills it and its result, a duplicate, ends the
		// lease and frees the slot as any result does; if the task was
		// never written, the writer ends the lease and returns the credit.
		l.node.conn.send(&protocol.Command{Op: protocol.OpCancel, Task: &protocol.TaskRef{ID: id, Attempt: l.attempt}})
	}
	d.mu.Unlock()
	d.counters.cancelled.Add(1)
	d.log.Info("task cancelled", "task", id)
	return d.Task(id)
}

// grant adds credits to n and hands out work.
func (d *Dispatcher) grant(n *node, slots int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n.info.State == api.NodeRebooting {
		return // it asked before the command reached it; its tasks would die
	}
	n.credits = min(n.credits+slots, protocol.MaxSlots)
	d.dispatchLocked()
}

// Tasks lists up to limit tasks from id from on, with their live state.
func (d *Dispatcher) Tasks(from uint64, limit int) ([]api.Task, error) {
	var out []api.Task
	err := d.store.Tasks(from, func(t store.Task) bool {
		out = append(out, d.describe(t))
		return len(out) < limit
	})
	return out, err
}

// Task returns one task with its live state.
func (d *Dispatcher) Task(id uint64) (api.Task, error) {
	t, err := d.store.Task(id)
	if errors.Is(err, store.ErrNoTask) {
		return api.Task{}, fmt.Errorf("%w: %v", api.ErrNotFound, err)
	}
	if err != nil {
		return api.Task{}, err
	}
	return d.describe(t), nil
}

func (d *Dispatcher) describe(t store.Task) api.Task {
	out := api.Task{
		ID: t.ID, Command: t.Command, Timeout: t.Timeout, Priority: t.Priority, Retries: t.Retries, Limits: t.Limits,
		Submitted: t.Submitted, State: api.TaskQueued,
	}
	if r := t.Result; r != nil {
		out.State, out.Node, out.Attempt = api.TaskDone, r.Node, r.Attempt
		switch {
		case r.Node == "" && r.Error == api.CancelledError:
			out.State = api.TaskCancelled // recorded by Cancel, not by a node
		case r.ExitCode != 0 || r.Error != "":
			out.State = api.TaskFailed
		}
		out.Result = &api.Result{
			ExitCode: r.ExitCode, Error: r.Error, Stdout: string(r.Stdout), Stderr: string(r.Stderr),
			Started: r.Started, Duration: r.Duration,
		}
		return out
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if l, ok := d.leases[t.ID]; ok {
		out.State, out.Node, out.Attempt = api.TaskRunning, l.node.name, l.attempt
	}
	return out
}
