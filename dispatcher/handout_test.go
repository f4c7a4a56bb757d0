package dispatcher

import (
	"net"
	"testing"

	"github.com/ramfarm/ramfarm/dispatcher/store"
	"github.com/ramfarm/ramfarm/protocol"
)

// A handout's command is read when its connection writes it, from the spec
// cache or else from the store; by then the task may have finished
// elsewhere. It must then not go out, and its lease must end.
func TestHandoutReadsTheCommandAndSkipsFinishedTasks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cached bool
	}{
		{"from the store", false}, // as after a restart, or past the cache's bound
		{"from the cache", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startDispatcher(t, t.TempDir())
			if !tc.cached {
				h.d.specs = newSpecCache(0)
			}
			ids := submit(t, h, "echo queued", "echo finished elsewhere") // no node yet: both stay queued
			if got := len(h.d.specs.specs); tc.cached && got != 2 || !tc.cached && got != 0 {
				t.Fatalf("%d tasks cached", got)
			}
			// The result comes the way results come: stored, then settled.
			other := &node{name: "other", leases: map[uint64]*lease{}}
			stored := make(chan error, 1)
			h.d.recordResult(other, &protocol.Result{TaskRef: protocol.TaskRef{ID: ids[1], Attempt: 1}}, func(err error) { stored <- err })
			if err := <-stored; err != nil {
				t.Fatal(err)
			}
			n := &node{name: "n", leases: map[uint64]*lease{}}
			h.d.mu.Lock()
			for _, id := range ids {
				h.d.lease(n, id, 1)
			}
			h.d.mu.Unlock()

			tasks := h.d.tasksFor([]*handout{
				{node: n, ref: protocol.TaskRef{ID: ids[0], Attempt: 1}},
				{node: n, ref: protocol.TaskRef{ID: ids[1], Attempt: 1}},
			})
			if task := tasks[0]; task == nil || task.Command != "echo queued" || task.ID != ids[0] || task.Attempt != 1 {
				t.Fatalf("handout of a queued task became %+v, want its command", task)
			}
			if task := tasks[1]; task != nil {
				t.Fatalf("handout of a finished task became %+v, want nothing sent", task)
			}
			h.d.mu.Lock()
			defer h.d.mu.Unlock()
			if _, leased := h.d.leases[ids[1]]; leased {
				t.Error("the finished task is still leased")
			}
			if _, leased := h.d.leases[ids[0]]; !leased {
				t.Error("the queued task lost its lease")
			}
		})
	}
}

// The cache holds what its bound allows and gives the room back as tasks
// leave the queue.
func TestSpecCacheIsBoundedInBytes(t *testing.T) {
	spec := store.TaskSpec{Command: "echo 0123456789"}
	cost := entryCost(store.Sendable{Command: spec.Command})
	c := newSpecCache(2*cost + cost/2)
	c.addAll([]uint64{1, 2, 3}, []store.TaskSpec{spec, spec, spec})
	if _, ok := c.get(3); ok || len(c.specs) != 2 {
		t.Fatalf("%d tasks cached in room for 2", len(c.specs))
	}
	if s, ok := c.get(1); !ok || s.Command != spec.Command {
		t.Fatalf("task 1: %+v %v, want its command", s, ok)
	}
	c.drop(1)
	c.drop(1) // twice gives nothing back twice
	if _, ok := c.get(1); ok || c.bytes != cost {
		t.Fatalf("after dropping task 1: cached %v, %d bytes held, want %d", ok, c.bytes, cost)
	}
	c.addAll([]uint64{4}, []store.TaskSpec{spec})
	if _, ok := c.get(4); !ok {
		t.Fatal("the room task 1 left was not reused")
	}
}

// A node whose task finished before its handout went out (a lost node's
// late result, or a cancellation) gets its credit back: its agent asked for
// a task and will not ask again for a slot that never got one.
func TestDroppedHandoutGivesTheCreditBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		finish func(h *harness, id uint64, lost *node) error
	}{
		{"late result of a lost node", func(h *harness, id uint64, lost *node) error {
			stored := make(chan error, 1)
			h.d.recordResult(lost, &protocol.Result{TaskRef: protocol.TaskRef{ID: id, Attempt: 1}}, func(err error) { stored <- err })
			return <-stored
		}},
		{"cancelled", func(h *harness, id uint64, _ *node) error {
			_, err := h.d.Cancel(id)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startDispatcher(t, t.TempDir())
			ids := submit(t, h, "echo once") // no node yet: it stays queued
			a := &node{name: "a", leases: map[uint64]*lease{}}
			b := &node{name: "b", leases: map[uint64]*lease{}}
			nc, peer := net.Pipe()
			defer peer.Close()
			b.conn = newAgentConn(nc, h.d.log, h.d.tasksFor)
			defer b.conn.close("test over")

			h.d.mu.Lock()
			h.d.lease(a, ids[0], 1)
			h.d.releaseLeases(a, "lost") // a falls silent; the task goes to b
			h.d.lease(b, ids[0], 2)      // b's credit is spent on the handout
			h.d.mu.Unlock()

			// The task finishes before b's handout is written.
			if err := tc.finish(h, ids[0], a); err != nil {
				t.Fatal(err)
			}
			if task := h.d.tasksFor([]*handout{{node: b, ref: protocol.TaskRef{ID: ids[0], Attempt: 2}}})[0]; task != nil {
				t.Fatalf("the finished task went out to b as %+v", task)
			}
			h.d.mu.Lock()
			defer h.d.mu.Unlock()
			if b.credits != 1 {
				t.Errorf("b has %d credits after its handout was dropped, want 1", b.credits)
			}
			if _, leased := h.d.leases[ids[0]]; leased {
				t.Error("the finished task is still leased")
			}
		})
	}
}

// A lease can outlive its task's result (a cancelled task until its agent
// answers); when its node is lost, only tasks still queued count as
// returned to the queue.
func TestLostNodeRequeuesOnlyQueuedTasks(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	ids := submit(t, h, "echo runs on", "echo cancelled") // no node yet: both stay queued
	n := &node{name: "n", leases: map[uint64]*lease{}}
	h.d.mu.Lock()
	for _, id := range ids {
		h.d.tries[id]++
		h.d.lease(n, id, 1)
	}
	h.d.mu.Unlock()
	if _, err := h.d.Cancel(ids[1]); err != nil {
		t.Fatal(err)
	}
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	if _, leased := h.d.leases[ids[1]]; !leased {
		t.Fatal("the cancelled task's lease ended before its attempt did")
	}
	h.d.releaseLeases(n, "lost")
	if got := h.d.counters.requeued.Load(); got != 1 {
		t.Errorf("%d tasks counted as returned to the queue, want 1: the cancelled one is not queued", got)
	}
	if !h.d.queue.Queued(ids[0]) || h.d.queue.Queued(ids[1]) {
		t.Error("after the loss, want the first task queued and the cancelled one not")
	}
}
