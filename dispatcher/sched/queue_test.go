package sched

import (
	"reflect"
	"testing"
)

func takeQ(q *Queue, n int, busy func(uint64) bool) []uint64 {
	var out []uint64
	for range n {
		id, ok := q.Next(busy)
		if !ok {
			break
		}
		out = append(out, id)
	}
	return out
}

func TestHigherPriorityGoesFirst(t *testing.T) {
	q := NewQueue(2)
	q.Add(0, 1, 2, 3)
	q.Add(5, 10)
	q.Add(-3, 20)
	running := map[uint64]bool{}
	busy := func(id uint64) bool { return running[id] }
	var order []uint64
	for range 5 {
		id, ok := q.Next(busy)
		if !ok {
			break
		}
		running[id] = true
		order = append(order, id)
	}
	// Circles hold 2 tasks each: 3 waits for a place behind 1 and 2.
	if want := []uint64{10, 1, 2, 20}; !reflect.DeepEqual(order, want) {
		t.Fatalf("hand-out order %v, want %v", order, want)
	}
	q.Done(1)
	if id, ok := q.Next(busy); !ok || id != 3 {
		t.Fatalf("after 1 finished: %d %v, want 3 from its priority's backlog", id, ok)
	}
}

// An urgent task submitted while the ordinary circle is full of waiting
// tasks goes out at the next free slot, not after the whole circle.
func TestUrgentTaskDoesNotWaitBehindAFullCircle(t *testing.T) {
	q := NewQueue(3)
	q.Add(0, 1, 2, 3, 4, 5)
	takeQ(q, 1, never)
	q.Add(100, 99)
	if got := takeQ(q, 2, never); !reflect.DeepEqual(got, []uint64{99, 99}) {
		t.Fatalf("next hand-outs %v: the urgent task comes first and, free, comes round again", got)
	}
}

func TestQueueDoneQueuedAndLen(t *testing.T) {
	q := NewQueue(1)
	q.Add(1, 7)
	q.Add(0, 8, 9)
	if q.Len() != 3 || !q.Queued(9) || q.Queued(6) {
		t.Fatalf("Len %d, Queued(9) %v, Queued(6) %v", q.Len(), q.Queued(9), q.Queued(6))
	}
	if !q.Done(7) || q.Done(7) || !q.Done(9) {
		t.Fatal("Done reports wrongly whether a task was queued")
	}
	if q.Len() != 1 || len(q.levels) != 1 {
		t.Fatalf("Len %d with %d levels after two tasks done, want 1 and 1 (empty levels go)", q.Len(), len(q.levels))
	}
	if got := takeQ(q, 1, never); !reflect.DeepEqual(got, []uint64{8}) {
		t.Fatalf("left: %v, want [8]", got)
	}
}
