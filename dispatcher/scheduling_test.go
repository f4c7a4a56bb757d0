package dispatcher

import (
	"errors"
	"slices"
	"testing"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/protocol"
)

func submitSpecs(t *testing.T, h *harness, specs ...api.TaskSpec) []uint64 {
	t.Helper()
	ids, err := h.d.Submit(specs)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// A task with one retry that fails twice runs twice, and its second failure
// is its result; a task without retries fails at once.
func TestFailedTaskRunsAgainWhileItHasRetries(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	a := join(t, h, "52:54:00:00:01:01", 1)
	ids := submitSpecs(t, h, api.TaskSpec{Command: "flaky", Retries: 1})
	a.send(&protocol.Request{Slots: 1})

	first := a.task()
	a.finish(first, 3)
	if got := taskState(t, h, ids[0]); got.State != api.TaskQueued {
		t.Fatalf("after a failure with a retry left: %+v, want queued again", got)
	}
	a.send(&protocol.Request{Slots: 1})
	second := a.task()
	if second.ID != ids[0] || second.Attempt <= first.Attempt {
		t.Fatalf("second hand-out %+v, want task %d with a new attempt after %d", second.TaskRef, ids[0], first.Attempt)
	}
	a.finish(second, 4)
	got := taskState(t, h, ids[0])
	if got.State != api.TaskFailed || got.Result.ExitCode != 4 || got.Attempt != second.Attempt {
		t.Fatalf("after the retry failed too: %+v, want failed with the second attempt's exit 4", got)
	}
	if n := h.d.counters.retried.Load(); n != 1 {
		t.Errorf("retried counter %d, want 1", n)
	}
}

// A busy node finishing its task gets the urgent task submitted after a
// backlog of ordinary ones.
func TestHigherPriorityTaskGoesOutFirst(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	a := join(t, h, "52:54:00:00:01:02", 1)
	submitSpecs(t, h, api.TaskSpec{Command: "ordinary 1"}, api.TaskSpec{Command: "ordinary 2"})
	a.send(&protocol.Request{Slots: 1})
	running := a.task()
	submitSpecs(t, h, api.TaskSpec{Command: "urgent", Priority: 10}, api.TaskSpec{Command: "background", Priority: -10})
	a.complete(running)
	var order []string
	for range 3 {
		a.send(&protocol.Request{Slots: 1})
		task := a.task()
		order = append(order, task.Command)
		a.complete(task)
	}
	if want := []string{"urgent", "ordinary 2", "background"}; !slices.Equal(order, want) {
		t.Fatalf("hand-out order %v, want %v", order, want)
	}
}

func TestSubmitRejectsOutOfRangePriorityAndRetries(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	for _, spec := range []api.TaskSpec{
		{Command: "x", Priority: api.MaxPriority + 1},
		{Command: "x", Priority: api.MinPriority - 1},
		{Command: "x", Retries: -1},
		{Command: "x", Retries: api.MaxRetries + 1},
	} {
		if _, err := h.d.Submit([]api.TaskSpec{spec}); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("Submit(%+v) = %v, want ErrInvalid", spec, err)
		}
	}
}

// Cancelling a queued task keeps it from ever running; cancelling a running
// one tells its node to kill it, and the node's late result is dropped.
func TestCancelQueuedAndRunningTasks(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	a := join(t, h, "52:54:00:00:01:03", 1)
	ids := submit(t, h, "running", "queued", "after")
	a.send(&protocol.Request{Slots: 1})
	running := a.task()

	if got, err := h.d.Cancel(ids[1]); err != nil || got.State != api.TaskCancelled {
		t.Fatalf("cancel queued task: %+v %v, want cancelled", got, err)
	}
	if got, err := h.d.Cancel(running.ID); err != nil || got.State != api.TaskCancelled {
		t.Fatalf("cancel running task: %+v %v, want cancelled", got, err)
	}
	var cmd *protocol.Command
	for cmd == nil {
		switch m := a.receive().(type) {
		case *protocol.Command:
			cmd = m
		case *protocol.Task:
			t.Fatalf("task %d sent to a node whose only slot is busy", m.ID)
		}
	}
	if cmd.Op != protocol.OpCancel || cmd.Task == nil || *cmd.Task != running.TaskRef {
		t.Fatalf("command %+v, want cancel of %+v", cmd, running.TaskRef)
	}
	a.finish(running, -1) // the agent's result for the killed attempt
	if got := taskState(t, h, running.ID); got.State != api.TaskCancelled {
		t.Fatalf("after the node's late result: %+v, want still cancelled", got)
	}
	a.send(&protocol.Request{Slots: 1})
	if next := a.task(); next.ID != ids[2] {
		t.Fatalf("next task %d (%s), want %d: the cancelled queued task must never run", next.ID, next.Command, ids[2])
	}
	if _, err := h.d.Cancel(ids[0]); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("cancel of a cancelled task: %v, want ErrConflict", err)
	}
	if _, err := h.d.Cancel(999); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("cancel of an unknown task: %v, want ErrNotFound", err)
	}
}

// A drained node keeps its running task but gets no new one until resumed;
// the mark survives a dispatcher restart.
func TestDrainedNodeGetsNoNewTasks(t *testing.T) {
	dir := t.TempDir()
	h := startDispatcher(t, dir)
	a := join(t, h, "52:54:00:00:01:04", 1)
	b := join(t, h, "52:54:00:00:01:05", 1)
	if err := h.d.Drain(a.name, true); err != nil {
		t.Fatal(err)
	}
	ids := submit(t, h, "one", "two")
	a.send(&protocol.Request{Slots: 1})
	b.send(&protocol.Request{Slots: 1})
	b.complete(b.task())
	b.send(&protocol.Request{Slots: 1})
	b.complete(b.task())
	for _, id := range ids {
		if got := taskState(t, h, id); got.Node != b.name {
			t.Fatalf("task %d ran on %q, want %s: %s is drained", id, got.Node, b.name, a.name)
		}
	}
	h.shutdown()

	h = startDispatcher(t, dir)
	a = join(t, h, "52:54:00:00:01:04", 1)
	nodes := h.d.Nodes()
	if len(nodes) != 1 || !nodes[0].Drained {
		t.Fatalf("after a restart: %+v, want %s still drained", nodes, a.name)
	}
	ids = submit(t, h, "three")
	a.send(&protocol.Request{Slots: 1})
	if err := h.d.Drain(a.name, false); err != nil {
		t.Fatal(err)
	}
	if task := a.task(); task.ID != ids[0] {
		t.Fatalf("resumed node got task %d, want %d", task.ID, ids[0])
	}
	if err := h.d.Drain("node99", true); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("drain of an unknown node: %v, want ErrNotFound", err)
	}
}

// Past MaxQueued a submission is refused whole and leaves nothing behind.
func TestFullQueueRefusesSubmissions(t *testing.T) {
	h := startDispatcher(t, t.TempDir(), func(c *Config) { c.MaxQueued = 3 })
	submit(t, h, "a", "b")
	if _, err := h.d.Submit([]api.TaskSpec{{Command: "c"}, {Command: "d"}}); !errors.Is(err, api.ErrBusy) {
		t.Fatalf("submitting past the bound: %v, want ErrBusy", err)
	}
	tasks, err := h.d.Tasks(1, 10)
	if err != nil || len(tasks) != 2 {
		t.Fatalf("tasks after the refusal: %d (%v), want the 2 accepted", len(tasks), err)
	}
	submit(t, h, "c") // exactly at the bound
}

// A task's limits travel from the submission to the node; impossible ones
// are refused at submission.
func TestTaskLimitsReachTheNode(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	a := join(t, h, "52:54:00:00:01:06", 1)
	lim := protocol.Limits{MemoryBytes: 256 << 20, CPUs: 0.5, Pids: 32}
	ids := submitSpecs(t, h, api.TaskSpec{Command: "limited", Limits: lim})
	a.send(&protocol.Request{Slots: 1})
	if task := a.task(); task.ID != ids[0] || task.Limits != lim {
		t.Fatalf("task %d with limits %+v, want %d with %+v", task.ID, task.Limits, ids[0], lim)
	}
	if got := taskState(t, h, ids[0]); got.Limits != lim {
		t.Fatalf("API shows limits %+v, want %+v", got.Limits, lim)
	}
	if _, err := h.d.Submit([]api.TaskSpec{{Command: "x", Limits: protocol.Limits{CPUs: -1}}}); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("negative cpus: %v, want ErrInvalid", err)
	}
}

// An agent frees a slot with its result, before the result is stored; the
// request can find every task in the circle leased. The task that enters
// the circle when a result is recorded must then go out to the waiting
// node, not wait for some later request.
func TestNodeWaitingForAFullCircleGetsTheNextTask(t *testing.T) {
	h := startDispatcher(t, t.TempDir(), func(c *Config) { c.Window = 2 })
	a := join(t, h, "52:54:00:00:01:09", 2)
	ids := submit(t, h, "one", "two", "three")
	a.send(&protocol.Request{Slots: 2})
	first, second := a.task(), a.task()
	a.send(&protocol.Request{Slots: 1}) // nothing free: both leased, "three" outside the circle
	a.complete(first)
	third := a.task()
	if third.ID != ids[2] {
		t.Fatalf("after %d and %d, got task %d, want %d", first.ID, second.ID, third.ID, ids[2])
	}
}
