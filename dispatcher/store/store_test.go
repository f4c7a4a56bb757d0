package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/protocol"
)

func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// RecordResult is RecordResultThen, waited for: tests check each outcome
// in turn. The dispatcher itself never waits for a result's commit. Like
// any write somebody waits for, it does not linger.
func (s *Store) RecordResult(id uint64, r Result) (Outcome, error) {
	return s.record(id, r, true)
}

// reopen closes s and opens its file again, as a restarted dispatcher does.
func reopen(t testing.TB, s *Store, path string) *Store {
	t.Helper()
	s.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestTasksSurviveReopen(t *testing.T) {
	s, path := openTemp(t)
	ids, err := s.AddTasks([]TaskSpec{{Command: "echo a"}, {Command: "echo b", Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] >= ids[1] {
		t.Fatalf("ids %v: want two increasing ids", ids)
	}
	if out, err := s.RecordResult(ids[0], Result{Node: "node1", ExitCode: 0, Stdout: []byte("a\n")}); err != nil || out != Recorded {
		t.Fatalf("record: %v %v", out, err)
	}
	s = reopen(t, s, path)
	pending, err := s.Pending()
	if err != nil || len(pending) != 1 || pending[0].ID != ids[1] {
		t.Fatalf("pending after reopen = %v, %v; want [%d]", pending, err, ids[1])
	}
	done, err := s.Task(ids[0])
	if err != nil || done.Result == nil || string(done.Result.Stdout) != "a\n" || done.Command != "echo a" {
		t.Fatalf("task after reopen = %+v, %v", done, err)
	}
	open, _ := s.Task(ids[1])
	if open.Result != nil || open.Timeout != time.Minute {
		t.Fatalf("pending task after reopen = %+v", open)
	}
}

func TestResultRecordedExactlyOnce(t *testing.T) {
	s, _ := openTemp(t)
	ids, _ := s.AddTasks([]TaskSpec{{Command: "true"}})
	var wg sync.WaitGroup
	var mu sync.Mutex
	recorded := 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(attempt int) {
			defer wg.Done()
			out, err := s.RecordResult(ids[0], Result{Attempt: attempt})
			if err != nil {
				t.Error(err)
			}
			if out == Recorded {
				mu.Lock()
				recorded++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if recorded != 1 {
		t.Fatalf("%d results recorded, want exactly 1", recorded)
	}
}

func TestRecordResultForUnknownTask(t *testing.T) {
	s, _ := openTemp(t)
	if _, err := s.RecordResult(42, Result{}); !errors.Is(err, ErrNoTask) {
		t.Fatalf("got %v, want ErrNoTask", err)
	}
}

func TestNodeNamesAreStable(t *testing.T) {
	s, _ := openTemp(t)
	a1, _ := s.NodeName("52:54:00:00:00:0a")
	b, _ := s.NodeName("52:54:00:00:00:0b")
	a2, _ := s.NodeName("52:54:00:00:00:0a")
	if a1 != "node1" || b != "node2" || a2 != a1 {
		t.Fatalf("names %q %q %q; want node1 node2 node1", a1, b, a2)
	}
	nodes, err := s.Nodes()
	if err != nil || len(nodes) != 2 {
		t.Fatalf("nodes = %v, %v", nodes, err)
	}
}

func TestConcurrentRegistrationsGetDistinctStableNames(t *testing.T) {
	s, _ := openTemp(t)
	const n = 200
	names := make([][2]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		for k := range 2 { // each MAC registers twice at once
			wg.Add(1)
			go func() {
				defer wg.Done()
				name, err := s.NodeName(fmt.Sprintf("52:54:00:00:%02x:%02x", i>>8, i&0xff))
				if err != nil {
					t.Error(err)
				}
				names[i][k] = name
			}()
		}
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, pair := range names {
		if pair[0] == "" || pair[0] != pair[1] || seen[pair[0]] {
			t.Fatalf("MAC %d got names %q: want one name per MAC, distinct across MACs", i, pair)
		}
		seen[pair[0]] = true
	}
	if nodes, _ := s.Nodes(); len(nodes) != n {
		t.Fatalf("%d node records, want %d", len(nodes), n)
	}
}

func TestLeasesSurviveReopen(t *testing.T) {
	s, path := openTemp(t)
	exp := time.Date(2026, 11, 21, 13, 0, 0, 0, time.UTC)
	for _, l := range []Lease{
		{MAC: "52:54:00:00:00:01", IP: "10.77.0.100", Hostname: "n1", Expiry: exp},
		{MAC: "52:54:00:00:00:02", IP: "10.77.0.101", Expiry: exp},
		{MAC: "52:54:00:00:00:01", IP: "10.77.0.102", Expiry: exp}, // replaces the first
		{MAC: "ff:ff:0a:4d:00:67", IP: "10.77.0.103", Expiry: exp, Declined: true},
	} {
		if err := s.SaveLease(l); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteLease("52:54:00:00:00:02"); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveLease(Lease{MAC: "not-a-mac"}); err == nil {
		t.Fatal("a lease with a bad MAC was stored")
	}
	s.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	leases, err := s.Leases()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Lease{}
	for _, l := range leases {
		got[l.MAC] = l
	}
	if len(got) != 2 || got["52:54:00:00:00:01"].IP != "10.77.0.102" || !got["ff:ff:0a:4d:00:67"].Declined || !got["52:54:00:00:00:01"].Expiry.Equal(exp) {
		t.Fatalf("leases after reopen: %+v", leases)
	}
}

func TestDrainMarkSurvivesReopen(t *testing.T) {
	s, path := openTemp(t)
	const mac = "52:54:00:00:00:0d"
	if err := s.SetDrained(mac, true); err == nil {
		t.Fatal("drained a node never seen")
	}
	if _, err := s.NodeFor(mac); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDrained(mac, true); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path)
	n, err := s.NodeFor(mac)
	if err != nil || !n.Drained || n.Name != "node1" {
		t.Fatalf("after reopen: %+v %v, want node1 drained", n, err)
	}
}

func TestForSendingReadsWhatNodesNeed(t *testing.T) {
	s, _ := openTemp(t)
	ids, err := s.AddTasks([]TaskSpec{
		{Command: "echo a", Timeout: 3 * time.Second, Limits: protocol.Limits{Pids: 9}},
		{Command: "echo done"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordResult(ids[1], Result{Node: "n", Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	var got []Sendable
	var errs []error
	err = s.ForSending([]uint64{ids[0], ids[1], 999}, func(i int, task Sendable, err error) {
		got, errs = append(got, task), append(errs, err)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Sendable{Command: "echo a", Timeout: 3 * time.Second, Limits: protocol.Limits{Pids: 9}}
	if got[0] != want || errs[0] != nil {
		t.Errorf("queued task: %+v %v, want %+v", got[0], errs[0], want)
	}
	if !got[1].Done || errs[1] != nil {
		t.Errorf("finished task: %+v %v, want Done", got[1], errs[1])
	}
	if !errors.Is(errs[2], ErrNoTask) {
		t.Errorf("unknown task: %v, want ErrNoTask", errs[2])
	}
}
