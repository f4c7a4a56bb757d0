package agent

import (
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/protocol"
)

// A cancel command kills the running attempt and its result says
// "cancelled"; the slot is free again. A cancel for an attempt not running
// here is ignored.
func TestCancelCommandKillsTheTask(t *testing.T) {
	f := newFakeDispatcher(t)
	startAgent(t, f.ln.Addr().String(), 1)
	pc, _ := f.accept()
	expect[*protocol.Request](t, pc)
	ref := protocol.TaskRef{ID: 12, Attempt: 3}
	pc.Send(&protocol.Task{TaskRef: ref, Command: "sleep 1000 & sleep 1000"})
	time.Sleep(200 * time.Millisecond)                                                             // let it start
	pc.Send(&protocol.Command{Op: protocol.OpCancel, Task: &protocol.TaskRef{ID: 99, Attempt: 1}}) // not running: ignored
	pc.Send(&protocol.Command{Op: protocol.OpCancel, Task: &ref})
	res := expect[*protocol.Result](t, pc)
	if res.TaskRef != ref || res.ExitCode != -1 || res.Error != "cancelled" {
		t.Fatalf("result %+v, want attempt %v cancelled with exit -1", res, ref)
	}
	if req := expect[*protocol.Request](t, pc); req.Slots != 1 {
		t.Fatalf("asked for %d slots after the cancel, want 1", req.Slots)
	}
}
