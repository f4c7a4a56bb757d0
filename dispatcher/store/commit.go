package store

import (
	"errors"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Group commit. Every durable write (a result, a new node, a DHCP lease)
// goes through one committer goroutine, which applies in one transaction,
// and so one fsync, every write that queued up while the previous commit
// was on its way to disk.
//
// bbolt's own Batch does the same but starts each batch on a timer
// (MaxBatchDelay): a quiet dispatcher then makes every result wait the
// whole delay, and a busy one still waits for the timer between commits.
// Here a busy committer commits as fast as the disk allows, with batches as
// large as the load makes them. Only a small group of writes that nobody
// waits for lingers, briefly, for company (see commitLoop).

// maxBatch bounds one transaction, so one commit does not grow without
// limit while writers keep arriving.
const maxBatch = 1000

// A commit costs a few hundred microseconds of CPU (mostly the kernel's
// writeback for two fdatasyncs and ~7 pages), whatever it holds: in the
// end-to-end bench (one agent running /bin/true 4 at a time, ~1100
// results/s) commits were 45% of the dispatcher's CPU. Results are patient
// writes: the agent does not wait for their ack. So a group of fewer than
// lingerFor patient writes waits up to lingerMax for more. Dispatcher CPU
// per task there:
//
//	a lone write waits 1 ms for a second:  0.29-0.31 ms
//	5 ms for 8 writes:                     0.20-0.21 ms
//	10 ms for 16 writes:                   0.13 ms (against 0.15-0.18 for 8)
//
// At higher rates the groups fill at once: the capacity bench (25 nodes
// that each wait for their acks) ran as fast with 16 as with 8, p99 3.1 ms.
// A write someone waits for (a new node, a DHCP lease, a cancelled task's
// result) ends the linger at once.
//
// What does wait on a lingering result is the dispatcher's bookkeeping
// after it (see dispatcher.settle): the result shows in the API, a retry is
// queued again, a drained node's last lease ends, and a node left without a
// free task gets the next one, up to lingerMax later. On a quiet cluster
// that is 10 ms on tasks that took longer; on a busy one, nothing.
const (
	lingerFor = 16
	lingerMax = 10 * time.Millisecond
)

// ErrClosed is returned for writes to a closed store.
var ErrClosed = errors.New("store closed")

type write struct {
	apply func(*bolt.Tx) error
	done  func(error) // called by the committer once the write is on disk, or failed
	// patient: no caller is blocked on done (see batchThen); the write may
	// linger for company.
	patient bool
}

// batch applies fn in a shared transaction and returns once it is on disk.
// fn may run more than once (see commit), so it must set its outputs afresh
// on each run.
func (s *Store) batch(fn func(*bolt.Tx) error) error {
	ch := make(chan error, 1)
	s.enqueue(write{apply: fn, done: func(err error) { ch <- err }})
	return <-ch
}

// batchThen is batch without the wait: done is called with the outcome,
// from the committer's goroutine right after the commit (or from this one
// if the store is closed). A busy dispatcher records thousands of results
// a second; a goroutine parked on each, woken by the committer, cost a
// context switch apiece. done must be quick and must not wait for the
// store. patient says that nothing urgent hangs on done: the write may wait
// up to lingerMax for company (see lingerFor).
func (s *Store) batchThen(fn func(*bolt.Tx) error, done func(error), patient bool) {
	s.enqueue(write{apply: fn, done: done, patient: patient})
}

func (s *Store) enqueue(w write) {
	select {
	case s.writes <- w:
	case <-s.quit:
		w.done(ErrClosed)
	}
}

// commitLoop runs until Close, committing queued writes in groups.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	group := make([]write, 0, maxBatch)
	linger := time.NewTimer(s.linger)
	linger.Stop()
	for {
		select {
		case w := <-s.writes:
			group = append(group[:0], w)
		case <-s.quit:
			return
		}
		group = s.queued(group)
		if mayLinger(group) {
			linger.Reset(s.linger)
		gather:
			for mayLinger(group) {
				select {
				case w := <-s.writes:
					group = s.queued(append(group, w))
				case <-linger.C:
					break gather
				case <-s.quit:
					break gather
				}
			}
			linger.Stop()
		}
		s.commit(group)
	}
}

// mayLinger reports whether group is small and nobody waits for it.
func mayLinger(group []write) bool {
	if len(group) >= lingerFor {
		return false
	}
	for _, w := range group {
		if !w.patient {
			return false
		}
	}
	return true
}

// queued appends to group the writes waiting, without waiting for more.
func (s *Store) queued(group []write) []write {
	for len(group) < maxBatch {
		select {
		case w := <-s.writes:
			group = append(group, w)
		default:
			return group
		}
	}
	return group
}

// commit applies a group in one transaction. If any write fails, the whole
// transaction is rolled back and each write is retried in a transaction of
// its own, so one bad write (a result for an unknown task, say) fails alone
// and never takes the others' changes with it.
func (s *Store) commit(group []write) {
	start := time.Now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, w := range group {
			if err := w.apply(tx); err != nil {
				return err
			}
		}
		return nil
	})
	s.commits.add(len(group), time.Since(start)) // before done: a waiter may look
	if err == nil {
		for _, w := range group {
			w.done(nil)
		}
		return
	}
	if len(group) == 1 {
		group[0].done(err)
		return
	}
	for _, w := range group {
		w.done(s.db.Update(w.apply))
	}
}

// commitCounters count the committer's work since the store opened.
type commitCounters struct {
	groups, writes atomic.Uint64
	nanos          atomic.Int64
}

func (c *commitCounters) add(writes int, took time.Duration) {
	c.groups.Add(1)
	c.writes.Add(uint64(writes))
	c.nanos.Add(int64(took))
}

// CommitStats is what the group committer did since the store opened.
// Writes over Groups is the mean group size: on a quiet dispatcher results
// wait for company (see lingerFor), on a busy one they come in crowds.
type CommitStats struct {
	Groups uint64        // groups committed (a failed group retried write by write counts once)
	Writes uint64        // writes in them
	Time   time.Duration // spent committing them, fsyncs included
}

// CommitStats returns the committer's counts so far.
func (s *Store) CommitStats() CommitStats {
	return CommitStats{
		Groups: s.commits.groups.Load(),
		Writes: s.commits.writes.Load(),
		Time:   time.Duration(s.commits.nanos.Load()),
	}
}
