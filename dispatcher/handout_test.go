package dispatcher

import (
	"testing"

	"github.com/ramfarm/ramfarm/dispatcher/store"
	"github.com/ramfarm/ramfarm/protocol"
)

// A handout is read from the store only when its connection writes it; by
// then the task may have finished elsewhere. It must then not go out, and
// its lease must end.
func TestHandoutReadsTheCommandAndSkipsFinishedTasks(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	ids := submit(t, h, "echo queued", "echo finished elsewhere") // no node yet: both stay queued
	if _, err := h.d.store.RecordResult(ids[1], store.Result{Node: "other", Attempt: 1}); err != nil {
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
}
