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
