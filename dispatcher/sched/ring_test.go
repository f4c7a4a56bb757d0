package sched

import (
	"reflect"
	"testing"
)

func never(uint64) bool { return false }

func take(r *Ring, n int, busy func(uint64) bool) []uint64 {
	var out []uint64
	for i := 0; i < n; i++ {
		id, ok := r.Next(busy)
		if !ok {
			break
		}
		out = append(out, id)
	}
	return out
}

func TestNextGoesRoundTheCircle(t *testing.T) {
	r := New(3)
	r.Add(1, 2, 3, 4, 5)
	if got := take(r, 7, never); !reflect.DeepEqual(got, []uint64{1, 2, 3, 1, 2, 3, 1}) {
		t.Fatalf("hand-out order %v: the circle holds 3 tasks and comes round again", got)
	}
	if r.Len() != 5 {
		t.Fatalf("Len = %d, want 5", r.Len())
	}
}

func TestDoneLetsNextTaskInJustBeforeThePointer(t *testing.T) {
	r := New(3)
	r.Add(1, 2, 3, 4, 5)
	take(r, 2, never) // handed out 1 and 2; pointer on 3
	r.Done(1)         // 4 enters just before the pointer: circle 2 4 [3]
	if got := take(r, 4, never); !reflect.DeepEqual(got, []uint64{3, 2, 4, 3}) {
		t.Fatalf("after Done(1): %v, want [3 2 4 3]", got)
	}
}

func TestBusyTasksArePassedOver(t *testing.T) {
	r := New(4)
	r.Add(1, 2, 3)
	busy := map[uint64]bool{1: true, 3: true}
	got := take(r, 3, func(id uint64) bool { return busy[id] })
	if !reflect.DeepEqual(got, []uint64{2, 2, 2}) {
		t.Fatalf("got %v, want only the free task 2", got)
	}
	busy[2] = true
	if id, ok := r.Next(func(id uint64) bool { return busy[id] }); ok {
		t.Fatalf("Next = %d with every task busy; want none", id)
	}
	delete(busy, 1) // its node was lost: task 1 comes round again
	if id, _ := r.Next(func(id uint64) bool { return busy[id] }); id != 1 {
		t.Fatalf("Next = %d, want the released task 1", id)
	}
}

func TestDoneOfEveryTaskEmptiesTheRing(t *testing.T) {
	r := New(2)
	r.Add(1, 2, 3)
	for _, id := range []uint64{2, 1, 3} {
		if !r.Done(id) {
			t.Fatalf("Done(%d) = false", id)
		}
	}
	if r.Len() != 0 {
		t.Fatalf("Len = %d, want 0", r.Len())
	}
	if id, ok := r.Next(never); ok {
		t.Fatalf("Next on empty ring = %d", id)
	}
	if r.Done(1) {
		t.Fatal("Done of an unknown task reported true")
	}
	r.Add(9)
	if id, _ := r.Next(never); id != 9 {
		t.Fatalf("ring unusable after emptying: Next = %d", id)
	}
}

func TestDoneWhileWaitingInBacklog(t *testing.T) {
	r := New(1)
	r.Add(1, 2, 3)
	if !r.Done(2) || r.Done(2) {
		t.Fatal("Done(2) from the backlog should succeed once")
	}
	if r.Len() != 2 {
		t.Fatalf("Len = %d, want 2", r.Len())
	}
	r.Done(1)
	if id, _ := r.Next(never); id != 3 {
		t.Fatalf("Next = %d, want 3: task 2 finished while waiting", id)
	}
}

func TestAddingAnIDTwiceKeepsOnePlace(t *testing.T) {
	r := New(4)
	r.Add(1, 1, 2)
	if got := take(r, 3, never); !reflect.DeepEqual(got, []uint64{1, 2, 1}) {
		t.Fatalf("got %v", got)
	}
}

func TestQueued(t *testing.T) {
	r := New(1)
	r.Add(1, 2)
	if !r.Queued(1) || !r.Queued(2) || r.Queued(3) {
		t.Fatal("Queued should be true for tasks in the circle and the backlog only")
	}
	r.Done(2)
	r.Done(1)
	if r.Queued(1) || r.Queued(2) {
		t.Fatal("finished tasks are not queued")
	}
}
