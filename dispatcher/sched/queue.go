package sched

import "slices"

// Queue holds every queued task by priority: a node asking for work gets a
// task of the highest priority that has one free; within a priority the
// circular list decides. There is one Ring per priority in use, each with
// its own circle of window tasks, so an urgent task never waits behind a
// circle full of ordinary ones. It is not safe for concurrent use.
type Queue struct {
	window int
	levels []level // highest priority first; only priorities with tasks
}

type level struct {
	priority int
	ring     *Ring
}

// NewQueue returns an empty queue whose rings each hold window tasks in
// their circle.
func NewQueue(window int) *Queue { return &Queue{window: window} }

// Add queues tasks of one priority, behind the tasks of that priority
// already queued.
func (q *Queue) Add(priority int, ids ...uint64) {
	i, found := slices.BinarySearchFunc(q.levels, priority, func(l level, p int) int { return p - l.priority })
	if !found {
		q.levels = slices.Insert(q.levels, i, level{priority: priority, ring: New(q.window)})
	}
	q.levels[i].ring.Add(ids...)
}

// Next returns the next free task of the highest priority that has one
// (see Ring.Next).
func (q *Queue) Next(busy func(id uint64) bool) (uint64, bool) {
	for _, l := range q.levels {
		if id, ok := l.ring.Next(busy); ok {
			return id, true
		}
	}
	return 0, false
}

// Done removes a finished task. It reports whether the task was queued.
func (q *Queue) Done(id uint64) bool {
	for i, l := range q.levels {
		if l.ring.Done(id) {
			if l.ring.Len() == 0 {
				q.levels = slices.Delete(q.levels, i, i+1)
			}
			return true
		}
	}
	return false
}

// Queued reports whether a task is queued, at any priority.
func (q *Queue) Queued(id uint64) bool {
	return slices.ContainsFunc(q.levels, func(l level) bool { return l.ring.Queued(id) })
}

// Len returns the number of queued tasks.
func (q *Queue) Len() int {
	n := 0
	for _, l := range q.levels {
		n += l.ring.Len()
	}
	return n
}
