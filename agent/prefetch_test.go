package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/ramfarm/ramfarm/protocol"
)

func startPrefetchingAgent(t *testing.T, f *fakeDispatcher, cores, prefetch int) {
	t.Helper()
	a := New(Config{
		CAPin: testCA().Pin(), Dispatcher: f.ln.Addr().String(), MAC: "52:54:00:00:00:01", BootID: "b",
		Cores: cores, Prefetch: prefetch, WorkDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// With one slot and a prefetch of one, the agent asks for two tasks, runs
// one and queues the other, which starts only when the first is done.
func TestPrefetchedTaskWaitsForTheSlot(t *testing.T) {
	f := newFakeDispatcher(t)
	startPrefetchingAgent(t, f, 1, 1)
	pc, _ := f.accept()
	if req := expect[*protocol.Request](t, pc); req.Slots != 2 {
		t.Fatalf("asked for %d tasks with 1 slot and prefetch 1, want 2", req.Slots)
	}
	first := protocol.TaskRef{ID: 1, Attempt: 1}
	second := protocol.TaskRef{ID: 2, Attempt: 1}
	pc.SendAll(&protocol.Task{TaskRef: first, Command: "sleep 0.3"}, &protocol.Task{TaskRef: second, Command: "true"})
	r1 := expect[*protocol.Result](t, pc)
	expect[*protocol.Request](t, pc)
	r2 := expect[*protocol.Result](t, pc)
	if r1.TaskRef != first || r2.TaskRef != second {
		t.Fatalf("results for %v then %v, want %v then %v", r1.TaskRef, r2.TaskRef, first, second)
	}
	if end1 := r1.Started.Add(r1.Duration.Std()); r2.Started.Before(end1) {
		t.Fatalf("the queued task started at %v, before the first ended at %v: it did not wait for the slot", r2.Started, end1)
	}
}

// A queued task can be cancelled before it starts; the running one is left
// alone, and the credit comes back.
func TestCancelOfAQueuedTask(t *testing.T) {
	f := newFakeDispatcher(t)
	startPrefetchingAgent(t, f, 1, 1)
	pc, _ := f.accept()
	expect[*protocol.Request](t, pc)
	running := protocol.TaskRef{ID: 3, Attempt: 1}
	queued := protocol.TaskRef{ID: 4, Attempt: 1}
	pc.SendAll(&protocol.Task{TaskRef: running, Command: "sleep 1"}, &protocol.Task{TaskRef: queued, Command: "echo never"},
		&protocol.Command{Op: protocol.OpCancel, Task: &queued})
	if r := expect[*protocol.Result](t, pc); r.TaskRef != queued || r.Error != "cancelled" || len(r.Stdout) != 0 {
		t.Fatalf("first result %+v, want the queued task cancelled without running", r)
	}
	expect[*protocol.Request](t, pc)
	if r := expect[*protocol.Result](t, pc); r.TaskRef != running || r.ExitCode != 0 {
		t.Fatalf("second result %+v, want the running task done", r)
	}
}
