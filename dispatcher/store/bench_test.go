package store

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRecordResultAlone stores results one at a time, each its own
// commit, on the disk the tests run on: the dispatcher's cost per result
// when results come slower than commits. cpu-us/op counts the kernel's
// writeback too.
func BenchmarkRecordResultAlone(b *testing.B) {
	dir, err := os.MkdirTemp("/var/tmp", "ramfarm-store-bench-") // on disk, not tmpfs: fsync must cost what it costs
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := Open(dir + "/ramfarm.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ids, err := s.AddTasks(make([]TaskSpec, b.N+20000))
	if err != nil {
		b.Fatal(err)
	}
	// A store with history, as in the bench: 20,000 results already in.
	for _, id := range ids[:20000] {
		s.RecordResult(id, Result{Node: "node1", Attempt: 1, Started: time.Now(), Recorded: time.Now()})
	}
	ids = ids[20000:]
	before := cpu()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.RecordResult(ids[i], Result{Node: "node1", Attempt: 1, Started: time.Now(), Recorded: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpu()-before).Microseconds())/float64(b.N), "cpu-us/op")
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
