package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// encodeJSON is the frame encoding/json writes for m: what the hand-written
// encoder must reproduce byte for byte.
func encodeJSON(t testing.TB, m Message) []byte {
	t.Helper()
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	env, err := json.Marshal(envelope{Type: m.Type(), Body: body})
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(env))), env...)
}

func hotMessages(id uint64, attempt int, text string, ms int64, out []byte, started time.Time) []Message {
	ref := TaskRef{ID: id, Attempt: attempt}
	return []Message{
		&Request{Slots: attempt},
		&ResultAck{TaskRef: ref},
		&Task{TaskRef: ref, Command: text, Timeout: Duration(time.Duration(ms) * time.Millisecond)},
		&Task{TaskRef: ref, Command: text, Limits: Limits{MemoryBytes: uint64(ms), Pids: attempt}},
		&Result{TaskRef: ref, ExitCode: attempt, Error: text, Stdout: out, Stderr: out, Started: started,
			Duration: Duration(time.Duration(ms) * time.Millisecond)},
	}
}

func checkEncodingIsJSON(t *testing.T, msgs []Message) {
	t.Helper()
	for _, m := range msgs {
		want := encodeJSON(t, m)
		got, err := Encode(m)
		if err != nil {
			t.Fatalf("%s: %v", m.Type(), err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", m.Type(), got, want)
		}
	}
}

func TestFastEncodingIsWhatJSONWrites(t *testing.T) {
	zone := time.FixedZone("x", -(3*3600 + 30*60))
	for _, tc := range []struct {
		text    string
		started time.Time
	}{
		{"true", time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.UTC)},
		{"", time.Time{}},
		{`echo "<a>&b" \ x`, time.Date(1999, 1, 2, 3, 4, 5, 0, zone)},
		{"caf\u00e9 \u2028 tab\there\n\x00 \xff bad utf-8", time.Date(2026, 1, 1, 0, 0, 0, 1, time.Local)},
	} {
		checkEncodingIsJSON(t, hotMessages(1<<63+5, -3, tc.text, 1500, []byte("out\x00\xff"), tc.started))
		checkEncodingIsJSON(t, hotMessages(0, 0, tc.text, 0, nil, tc.started))
	}
}

func FuzzFastEncodingIsWhatJSONWrites(f *testing.F) {
	f.Add(uint64(7), 1, "sha256sum /etc/hostname", int64(5000), []byte("x"), int64(1e18))
	f.Fuzz(func(t *testing.T, id uint64, attempt int, text string, ms int64, out []byte, nanos int64) {
		checkEncodingIsJSON(t, hotMessages(id, attempt, text, ms, out, time.Unix(0, nanos).UTC()))
	})
}

// The frames the dispatcher and agents exchange for every task must take
// the fast path, or the speed it was written for is silently gone.
func TestHotFramesTakeTheFastPath(t *testing.T) {
	started := time.Date(2026, 11, 21, 10, 0, 0, 5, time.UTC)
	for _, m := range hotMessages(42, 2, "/bin/true", 3000, []byte("hi\n"), started) {
		if task, ok := m.(*Task); ok && task.Limits != (Limits{}) {
			continue // limits go through encoding/json, both ways
		}
		frame, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := decodeFast(frame[4:])
		if !ok {
			t.Fatalf("%s %s does not take the fast path", m.Type(), frame[4:])
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%s: got %+v, want %+v", m.Type(), got, m)
		}
	}
}

// Heartbeats, one per node per period, take the fast path as agents encode
// them; those it leaves (no running task: an empty list) still decode.
func TestHeartbeatsTakeTheFastPath(t *testing.T) {
	for _, h := range []*Heartbeat{
		{Load1: 0.25, MemAvailableBytes: 1 << 30, Running: []TaskRef{{ID: 7, Attempt: 1}, {ID: 1 << 40, Attempt: 3}}},
		{Load1: 1234.5678e10, MemAvailableBytes: 0, Running: []TaskRef{{ID: 1}}},
		{Load1: 1e-9, MemAvailableBytes: 42},
		{},
	} {
		frame, err := Encode(h)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := decodeFast(frame[4:]); ok && !reflect.DeepEqual(got, h) {
			t.Errorf("%s: fast path gave %+v", frame[4:], got)
		} else if !ok && len(h.Running) > 0 {
			t.Errorf("%s does not take the fast path", frame[4:])
		}
		if got, err := Decode(frame[4:]); err != nil || !reflect.DeepEqual(got, h) {
			t.Errorf("%s: decoded %+v, %v", frame[4:], got, err)
		}
	}
}

// Whatever the fast decoder accepts, encoding/json decodes to the same
// message: the fast path changes the speed, never the meaning.
func FuzzFastDecodeAgreesWithJSON(f *testing.F) {
	for _, seed := range []string{
		`{"type":"request","body":{"slots":1}}`,
		`{"type":"request","body":{"slots":1,"slots":2}}`,
		`{"type":"request","body":{"slots":01}}`,
		`{"type":"request","body":{"slots":-0}}`,
		`{"type":"result-ack","body":{"id":3,"attempt":1}}`,
		`{"type":"result-ack","body":{"id":-0,"attempt":-9223372036854775808}}`,
		`{"type":"result-ack","body":{"id":18446744073709551615,"attempt":9223372036854775807}}`,
		`{"type":"task","body":{"id":1,"attempt":1,"command":"true","timeout":1000}}`,
		`{"type":"task","body":{"id":1,"attempt":1,"command":"true"},"type":"result"}`,
		`{"type":"result","body":{"id":1,"attempt":1,"exit_code":0,"stdout":"aGk=","started":"2026-11-21T10:00:00.5Z","duration":3}}`,
		`{"type":"result","body":{"id":1,"attempt":1,"exit_code":0,"stdout":"","started":"2026-11-21T10:00:00+01:00","duration":3}}`,
		`{"type":"result","body":{"id":1,"exit_code":-1,"error":"timed out","started":"0001-01-01T00:00:00Z","duration":-3}}`,
		`{"type":"heartbeat","body":{"load1":0.25,"mem_available_bytes":1073741824,"running":[{"id":7,"attempt":1},{"id":9,"attempt":2}]}}`,
		`{"type":"heartbeat","body":{"load1":-0.0e-0,"mem_available_bytes":0,"running":[{"id":1}],"running":[{"attempt":2}]}}`,
		`{"type":"heartbeat","body":{"load1":1e400,"mem_available_bytes":1}}`,
		`{"type":"heartbeat","body":{"load1":1.,"mem_available_bytes":1}}`,
		`{"type":"heartbeat","body":{"load1":12345678901234567890123,"mem_available_bytes":1}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := decodeFast(body)
		if !ok {
			return
		}
		slow, err := decodeJSON(body)
		if err != nil {
			t.Fatalf("fast path accepted what encoding/json refuses (%v): %q", err, body)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", body, fast, slow)
		}
	})
}

// BenchmarkHotMessages encodes and decodes one task's messages: with the
// fast path, and with encoding/json alone as before it.
func BenchmarkHotMessages(b *testing.B) {
	started := time.Now()
	msgs := hotMessages(123456, 1, "/bin/true", 0, nil, started)[:3]
	msgs = append(msgs, &Result{TaskRef: TaskRef{ID: 123456, Attempt: 1}, Started: started, Duration: 2})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, m := range msgs {
				frame, _ := Encode(m)
				if _, err := Decode(frame[4:]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, m := range msgs {
				frame := encodeJSON(b, m)
				if _, err := decodeJSON(frame[4:]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
