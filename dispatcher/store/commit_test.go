package store

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Writes committed in one group must not depend on each other: a result
// for an unknown task fails alone, and every other result of the group is
// stored.
func TestGroupCommitIsolatesFailingWrites(t *testing.T) {
	s, path := openTemp(t)
	ids, err := s.AddTasks(make([]TaskSpec, 200))
	if err != nil {
		t.Fatal(err)
	}
	const unknown = 1_000_000
	var wg sync.WaitGroup
	errs := make([]error, 2*len(ids))
	for i, id := range ids {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, errs[2*i] = s.RecordResult(id, Result{Node: "n", Attempt: 1})
		}()
		go func() {
			defer wg.Done()
			_, errs[2*i+1] = s.RecordResult(unknown+id, Result{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i%2 == 0 && err != nil {
			t.Errorf("result for task %d: %v", ids[i/2], err)
		}
		if i%2 == 1 && !errors.Is(err, ErrNoTask) {
			t.Errorf("result for unknown task %d: got %v, want ErrNoTask", unknown+ids[i/2], err)
		}
	}

	// On disk, not just in memory: reopen and look.
	s = reopen(t, s, path)
	pending, err := s.Pending()
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending after all results: %v (err %v), want none", pending, err)
	}
}

// A few results, which nobody waits for, wait for company; enough of them,
// or one write somebody waits for, end the wait at once. The linger here
// is 30 s, and anything that takes half of it failed to end the wait.
func TestPatientWritesLingerUntilCompanyComes(t *testing.T) {
	const linger = 30 * time.Second
	s, err := open(filepath.Join(t.TempDir(), "state.db"), linger)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids, err := s.AddTasks(make([]TaskSpec, lingerFor+4))
	if err != nil {
		t.Fatal(err)
	}
	recorded := make(chan uint64, len(ids))
	record := func(ids []uint64) {
		for _, id := range ids {
			s.RecordResultThen(id, Result{Node: "n", Attempt: 1}, func(o Outcome, err error) {
				if err != nil || o != Recorded {
					t.Errorf("task %d: %v %v", id, o, err)
				}
				recorded <- id
			})
		}
	}
	soon := func(what string, ch <-chan uint64) {
		select {
		case <-ch:
		case <-time.After(linger / 2):
			t.Fatalf("%s waited for the linger", what)
		}
	}

	// lingerFor patient writes commit without waiting.
	record(ids[:lingerFor])
	for range lingerFor {
		soon("a full group of results", recorded)
	}

	// Fewer wait; a write somebody waits for takes them along.
	before := s.CommitStats()
	record(ids[lingerFor : lingerFor+3])
	time.Sleep(20 * time.Millisecond)
	select {
	case id := <-recorded:
		t.Fatalf("result for task %d committed alone, without waiting for company", id)
	default:
	}
	awaited := make(chan uint64, 1)
	go func() {
		if _, err := s.RecordFinal(ids[lingerFor+3], Result{Node: "n", Attempt: 1}); err != nil {
			t.Error(err)
		}
		awaited <- ids[lingerFor+3]
	}()
	soon("a write somebody waits for", awaited)
	// The committer calls the writes' callbacks in the order the writes
	// joined the transaction: the lingering results' before RecordFinal's.
	if len(recorded) != 3 {
		t.Fatalf("%d of 3 lingering results committed with the awaited write", len(recorded))
	}
	if after := s.CommitStats(); after.Groups-before.Groups != 1 || after.Writes-before.Writes != 4 {
		t.Fatalf("%d groups of %d writes in all, want 1 of 4", after.Groups-before.Groups, after.Writes-before.Writes)
	}
}

func TestWriteAfterCloseFails(t *testing.T) {
	s, _ := openTemp(t)
	ids, err := s.AddTasks(make([]TaskSpec, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordResult(ids[0], Result{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close: got %v, want ErrClosed", err)
	}
}

// BenchmarkRecordResult measures a result's trip through group commit with
// concurrent writers, as the dispatcher's agent connections produce them.
func BenchmarkRecordResult(b *testing.B) {
	s, _ := openTemp(b)
	ids, err := s.AddTasks(make([]TaskSpec, b.N))
	if err != nil {
		b.Fatal(err)
	}
	var next sync.Mutex
	i := 0
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			next.Lock()
			id := ids[i]
			i++
			next.Unlock()
			if _, err := s.RecordResult(id, Result{Node: "n", Attempt: 1}); err != nil {
				b.Error(err)
			}
		}
	})
}
