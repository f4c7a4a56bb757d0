package store

import (
	"testing"
)

// A task with 2 retries has 3 attempts: two failures are counted, the third
// result is recorded whatever it says, and the count survives a restart.
func TestFailedAttemptsUseRetriesThenTheResultIsRecorded(t *testing.T) {
	s, path := openTemp(t)
	ids, err := s.AddTasks([]TaskSpec{{Command: "false", Retries: 2, Priority: -7}})
	if err != nil {
		t.Fatal(err)
	}
	id := ids[0]
	fail := func(attempt int) Outcome {
		t.Helper()
		out, err := s.RecordResult(id, Result{Attempt: attempt, ExitCode: 1})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if out := fail(1); out != Retry {
		t.Fatalf("attempt 1 failed with 2 retries left: %v, want Retry", out)
	}
	s = reopen(t, s, path)
	if p, _ := s.Pending(); len(p) != 1 || p[0].Priority != -7 {
		t.Fatalf("pending after a retry and a restart: %+v, want the task at priority -7", p)
	}
	if out := fail(2); out != Retry {
		t.Fatalf("attempt 2: %v, want Retry", out)
	}
	if out := fail(3); out != Recorded {
		t.Fatalf("attempt 3, no retries left: %v, want Recorded", out)
	}
	if out, _ := s.RecordResult(id, Result{Attempt: 4}); out != Duplicate {
		t.Fatalf("a result after the recorded one: %v, want Duplicate", out)
	}
	task, err := s.Task(id)
	if err != nil || task.Result == nil || task.Result.Attempt != 3 {
		t.Fatalf("recorded result %+v (err %v), want attempt 3's", task.Result, err)
	}
}

func TestSuccessIsRecordedAtOnceAndFinalIgnoresRetries(t *testing.T) {
	s, _ := openTemp(t)
	ids, err := s.AddTasks([]TaskSpec{{Command: "true", Retries: 5}, {Command: "sleep 1d", Retries: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := s.RecordResult(ids[0], Result{Attempt: 1}); out != Recorded {
		t.Fatalf("success with retries left: %v, want Recorded", out)
	}
	if out, _ := s.RecordFinal(ids[1], Result{ExitCode: -1, Error: "cancelled"}); out != Recorded {
		t.Fatalf("cancellation with retries left: %v, want Recorded", out)
	}
	if p, _ := s.Pending(); len(p) != 0 {
		t.Fatalf("pending %+v, want none", p)
	}
}

func TestQueueStateRoundTrip(t *testing.T) {
	for _, q := range []queueState{{}, {priority: -100, retriesLeft: 0}, {priority: 100, retriesLeft: 65535}} {
		if got := decodeQueueState(q.encode()); got != q {
			t.Errorf("%+v came back as %+v", q, got)
		}
	}
	if got := decodeQueueState(nil); got != (queueState{}) {
		t.Errorf("a record from before priorities decodes as %+v, want zero", got)
	}
}
