package store

import (
	"errors"
	"sync"
	"testing"
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
