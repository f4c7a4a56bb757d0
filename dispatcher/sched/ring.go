// Package sched decides which task goes out next.
//
// The policy is the circular list of the cluster architecture (seed 000): a
// fixed number of tasks sit in a circle with a pointer on the next one to
// hand out. Each hand-out moves the pointer on. A task stays in the circle
// until its result arrives, so a task whose node stopped answering comes
// round again; when a result arrives its task leaves the circle and the next
// waiting task takes a place at the "end" of the circle, just before the
// pointer, so it goes out after everything already in the circle.
//
// Tasks waiting for a place in the circle queue in a backlog of ids only,
// which keeps memory small however many tasks are submitted.
package sched

import (
	"container/list"
	"slices"
)

// DefaultWindow is the number of tasks in the circle when none is given.
const DefaultWindow = 1024

// Ring is the circular task list. It is not safe for concurrent use.
type Ring struct {
	window int
	circle *list.List               // of uint64 task ids
	where  map[uint64]*list.Element // task id -> its place in the circle
	cursor *list.Element            // next task to consider; nil when the circle is empty

	backlog []uint64            // waiting for a place, oldest first
	dropped map[uint64]struct{} // finished while still in the backlog
}

// New returns an empty ring whose circle holds at most window tasks.
func New(window int) *Ring {
	if window < 1 {
		window = DefaultWindow
	}
	return &Ring{window: window, circle: list.New(), where: map[uint64]*list.Element{}, dropped: map[uint64]struct{}{}}
}

// Add queues tasks, in order, behind every task already queued.
func (r *Ring) Add(ids ...uint64) {
	r.backlog = append(r.backlog, ids...)
	r.fill()
}

// Next returns the first task from the pointer on for which busy is false,
// and moves the pointer past it. busy says a task is already running on a
// live node; such tasks are passed over, not removed.
func (r *Ring) Next(busy func(id uint64) bool) (uint64, bool) {
	for i, n := 0, r.circle.Len(); i < n; i++ {
		e := r.cursor
		r.advance()
		if id := e.Value.(uint64); !busy(id) {
			return id, true
		}
	}
	return 0, false
}

// Done removes a finished task and lets the next waiting task in.
// It reports whether the task was queued.
func (r *Ring) Done(id uint64) bool {
	e, ok := r.where[id]
	if !ok {
		return r.dropFromBacklog(id)
	}
	if e == r.cursor {
		r.advance()
	}
	r.circle.Remove(e)
	delete(r.where, id)
	if r.circle.Len() == 0 {
		r.cursor = nil
	}
	r.fill()
	return true
}

// Queued reports whether a task is in the circle or waiting for a place.
func (r *Ring) Queued(id uint64) bool {
	if _, ok := r.where[id]; ok {
		return true
	}
	if _, gone := r.dropped[id]; gone {
		return false
	}
	return slices.Contains(r.backlog, id)
}

// Len returns the number of queued tasks, in the circle and waiting.
func (r *Ring) Len() int { return r.circle.Len() + len(r.backlog) - len(r.dropped) }

// fill moves waiting tasks into the circle, each just before the pointer.
func (r *Ring) fill() {
	for r.circle.Len() < r.window && len(r.backlog) > 0 {
		id := r.backlog[0]
		r.backlog = r.backlog[1:]
		if _, gone := r.dropped[id]; gone {
			delete(r.dropped, id)
			continue
		}
		if _, dup := r.where[id]; dup {
			continue
		}
		if r.cursor == nil {
			r.cursor = r.circle.PushBack(id)
			r.where[id] = r.cursor
		} else {
			r.where[id] = r.circle.InsertBefore(id, r.cursor)
		}
	}
	if len(r.backlog) == 0 {
		r.backlog = nil // let the old array go
	}
}

func (r *Ring) advance() {
	if r.cursor = r.cursor.Next(); r.cursor == nil {
		r.cursor = r.circle.Front()
	}
}

func (r *Ring) dropFromBacklog(id uint64) bool {
	for _, b := range r.backlog {
		if b == id {
			if _, gone := r.dropped[id]; gone {
				return false
			}
			r.dropped[id] = struct{}{}
			return true
		}
	}
	return false
}
