// Package store keeps the dispatcher's durable state in a bbolt file: every
// submitted task, every recorded result and the names given to nodes.
//
// The rule that makes "nothing lost" true: a write is committed (fsynced)
// before the dispatcher acknowledges what it records, to the submitter or to
// the agent. Concurrent writers share commits (group commit, commit.go).
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ramfarm/ramfarm/protocol"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketTasks   = []byte("tasks")   // id -> TaskSpec, for every task ever submitted
	bucketPending = []byte("pending") // id -> queueState, for tasks without a result yet
	bucketResults = []byte("results") // id -> Result
	bucketNodes   = []byte("nodes")   // mac -> Node
)

var buckets = [][]byte{bucketTasks, bucketPending, bucketResults, bucketNodes, bucketLeases}

// ErrNoTask is returned for an id that was never submitted.
var ErrNoTask = errors.New("no such task")

// Store is the dispatcher's database.
type Store struct {
	db *bolt.DB

	writes  chan write    // to the committer (commit.go)
	quit    chan struct{} // closed by Close
	stopped chan struct{} // closed when the committer has returned
	linger  time.Duration // lingerMax; tests make it longer than any test
	close   sync.Once

	commits commitCounters // what the committer did, for metrics
}

// Open opens or creates the database at path. It fails after a few seconds
// if another dispatcher holds the file.
func Open(path string) (*Store, error) {
	return open(path, lingerMax)
}

// open is Open with the longest wait of a small group of patient writes.
func open(path string, linger time.Duration) (*Store, error) {
	// The free-page list is not written with every commit (bbolt rebuilds
	// it from the pages when it opens the file): one page write less per
	// commit, and so per result when results come one at a time. The map
	// form of the list is the one bbolt recommends for it.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 3 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open state database %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise state database %s: %w", path, err)
	}
	s := &Store{db: db, writes: make(chan write), quit: make(chan struct{}), stopped: make(chan struct{}), linger: linger}
	go s.commitLoop()
	return s, nil
}

// Close stops the committer and closes the database. Writes still waiting
// to be committed fail with ErrClosed; none are half done. Closing twice is
// harmless.
func (s *Store) Close() error {
	s.close.Do(func() {
		close(s.quit)
		<-s.stopped
	})
	return s.db.Close()
}

// TaskSpec is what a submitter asks for.
type TaskSpec struct {
	Command   string          `json:"command"`
	Timeout   time.Duration   `json:"timeout,omitempty"`
	Priority  int             `json:"priority,omitempty"` // higher goes out first
	Retries   int             `json:"retries,omitempty"`  // failed attempts run again at most this often
	Limits    protocol.Limits `json:"limits,omitzero"`
	Submitted time.Time       `json:"submitted"`
}

// Result is how a task ended, as recorded.
type Result struct {
	Node     string        `json:"node"`
	Attempt  int           `json:"attempt"`
	ExitCode int           `json:"exit_code"`
	Error    string        `json:"error,omitempty"`
	Stdout   []byte        `json:"stdout,omitempty"`
	Stderr   []byte        `json:"stderr,omitempty"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
	Recorded time.Time     `json:"recorded"`
}

// Task is a submitted task with its result, if it has one.
type Task struct {
	ID uint64
	TaskSpec
	Result *Result
}

// AddTasks stores specs as new tasks and returns their ids, in order. When it
// returns without error the tasks are on disk.
func (s *Store) AddTasks(specs []TaskSpec) ([]uint64, error) {
	ids := make([]uint64, 0, len(specs))
	err := s.db.Update(func(tx *bolt.Tx) error {
		tasks, pending := tx.Bucket(bucketTasks), tx.Bucket(bucketPending)
		for _, spec := range specs {
			id, err := tasks.NextSequence()
			if err != nil {
				return err
			}
			v, err := json.Marshal(spec)
			if err != nil {
				return err
			}
			if err := tasks.Put(key(id), v); err != nil {
				return err
			}
			q := queueState{priority: spec.Priority, retriesLeft: spec.Retries}
			if err := pending.Put(key(id), q.encode()); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store tasks: %w", err)
	}
	return ids, nil
}

// Outcome says what became of a result handed to RecordResultThen or
// RecordFinal.
type Outcome int

const (
	// Duplicate: the task already had its result, which stays.
	Duplicate Outcome = iota
	// Recorded: the result is now the task's result, for good.
	Recorded
	// Retry: the attempt failed and the task had a retry left, now used
	// up. The result is not the task's result; the task is to run again.
	Retry
)

// RecordResultThen stores r as the result of task id, unless the task
// already has one: results are recorded exactly once, whatever retries and
// late duplicates arrive. A failed attempt (non-zero exit or an error) of a
// task with retries left is counted instead and reported as Retry.
// Concurrent callers share commits (group commit).
//
// It does not wait: done gets the outcome once the result is on disk (or
// failed), on the committer's goroutine; it must be quick and must not wait
// for the store. Nothing urgent should hang on done: a quiet store holds
// the result up to lingerMax for company (see lingerFor).
func (s *Store) RecordResultThen(id uint64, r Result, done func(Outcome, error)) {
	s.recordThen(id, r, true, done, true)
}

// RecordFinal stores r as the result of task id, unless it already has one,
// whatever retries the task has left: for a cancelled task.
func (s *Store) RecordFinal(id uint64, r Result) (Outcome, error) {
	return s.record(id, r, false)
}

func (s *Store) record(id uint64, r Result, mayRetry bool) (Outcome, error) {
	type outcome struct {
		o   Outcome
		err error
	}
	ch := make(chan outcome, 1)
	s.recordThen(id, r, mayRetry, func(o Outcome, err error) { ch <- outcome{o, err} }, false)
	got := <-ch
	return got.o, got.err
}

// recordThen records r and calls done; patient lets it linger (see batchThen).
func (s *Store) recordThen(id uint64, r Result, mayRetry bool, done func(Outcome, error), patient bool) {
	v, err := json.Marshal(r) // outside the shared transaction, which is serial
	if err != nil {
		done(Duplicate, err)
		return
	}
	failed := r.ExitCode != 0 || r.Error != ""
	var out Outcome
	s.batchThen(func(tx *bolt.Tx) error {
		out = Duplicate // batch may run this function more than once
		pending := tx.Bucket(bucketPending)
		pv := pending.Get(key(id))
		if pv == nil {
			// Finished already, or never submitted: only a task that
			// exists can be pending, so only now is the task looked up.
			if tx.Bucket(bucketTasks).Get(key(id)) == nil {
				return fmt.Errorf("%w: %d", ErrNoTask, id)
			}
			return nil
		}
		if q := decodeQueueState(pv); failed && mayRetry && q.retriesLeft > 0 {
			q.retriesLeft--
			out = Retry
			return pending.Put(key(id), q.encode())
		}
		if err := tx.Bucket(bucketResults).Put(key(id), v); err != nil {
			return err
		}
		out = Recorded
		return pending.Delete(key(id))
	}, func(err error) { done(out, err) }, patient)
}

// Task returns one task with its result.
func (s *Store) Task(id uint64) (Task, error) {
	var t Task
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		t, err = readTask(tx, id)
		return err
	})
	return t, err
}

// Sendable is what a node needs of a task to run it.
type Sendable struct {
	Command string          `json:"command"`
	Timeout time.Duration   `json:"timeout,omitempty"`
	Limits  protocol.Limits `json:"limits,omitzero"`
	Done    bool            `json:"-"` // the task has its result already: not to be sent
}

// Sendable is what a node needs of the task.
func (t TaskSpec) Sendable() Sendable {
	return Sendable{Command: t.Command, Timeout: t.Timeout, Limits: t.Limits}
}

// ForSending reads what nodes need of the tasks ids, all in one read
// transaction, and calls fn with each in turn (err: that task cannot be
// read). It decodes no more than that: tasks go out at the rate results
// come in, and a full Task with its result is several times the work.
func (s *Store) ForSending(ids []uint64, fn func(i int, t Sendable, err error)) error {
	return s.db.View(func(tx *bolt.Tx) error {
		tasks, results := tx.Bucket(bucketTasks), tx.Bucket(bucketResults)
		for i, id := range ids {
			var t Sendable
			v := tasks.Get(key(id))
			if v == nil {
				fn(i, t, fmt.Errorf("%w: %d", ErrNoTask, id))
				continue
			}
			if err := json.Unmarshal(v, &t); err != nil {
				fn(i, t, fmt.Errorf("task %d: corrupt record: %w", id, err))
				continue
			}
			t.Done = results.Get(key(id)) != nil
			fn(i, t, nil)
		}
		return nil
	})
}

// Queued is a task without a result yet, as the queue needs it.
type Queued struct {
	ID       uint64
	Priority int
}

// Pending returns the tasks that have no result yet, oldest first: the work
// a restarted dispatcher must still do.
func (s *Store) Pending() ([]Queued, error) {
	var out []Queued
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, v []byte) error {
			out = append(out, Queued{ID: binary.BigEndian.Uint64(k), Priority: decodeQueueState(v).priority})
			return nil
		})
	})
	return out, err
}

// Tasks calls fn for each task with an id of at least from, in id order,
// until fn returns false.
func (s *Store) Tasks(from uint64, fn func(Task) bool) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketTasks).Cursor()
		for k, _ := c.Seek(key(from)); k != nil; k, _ = c.Next() {
			t, err := readTask(tx, binary.BigEndian.Uint64(k))
			if err != nil {
				return err
			}
			if !fn(t) {
				return nil
			}
		}
		return nil
	})
}

func readTask(tx *bolt.Tx, id uint64) (Task, error) {
	t := Task{ID: id}
	v := tx.Bucket(bucketTasks).Get(key(id))
	if v == nil {
		return t, fmt.Errorf("%w: %d", ErrNoTask, id)
	}
	if err := json.Unmarshal(v, &t.TaskSpec); err != nil {
		return t, fmt.Errorf("task %d: corrupt record: %w", id, err)
	}
	if v := tx.Bucket(bucketResults).Get(key(id)); v != nil {
		t.Result = new(Result)
		if err := json.Unmarshal(v, t.Result); err != nil {
			return t, fmt.Errorf("task %d: corrupt result: %w", id, err)
		}
	}
	return t, nil
}

func key(id uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, id)
}

// queueState is the value of a pending task's record: what the queue needs
// without decoding the task, in 4 bytes (priority as int16, retries left as
// uint16). Databases from before priorities hold an empty value: priority
// 0, no retries.
type queueState struct {
	priority    int
	retriesLeft int
}

func (q queueState) encode() []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(int16(q.priority)))
	return binary.BigEndian.AppendUint16(b, uint16(q.retriesLeft))
}

func decodeQueueState(v []byte) queueState {
	if len(v) < 4 {
		return queueState{}
	}
	return queueState{
		priority:    int(int16(binary.BigEndian.Uint16(v))),
		retriesLeft: int(binary.BigEndian.Uint16(v[2:])),
	}
}
