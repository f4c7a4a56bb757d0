package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func roundTrip(t *testing.T, m Message) Message {
	t.Helper()
	var buf bytes.Buffer
	c := NewConn(&buf)
	if err := c.Send(m); err != nil {
		t.Fatalf("send %s: %v", m.Type(), err)
	}
	got, err := c.Receive()
	if err != nil {
		t.Fatalf("receive %s: %v", m.Type(), err)
	}
	return got
}

func TestRoundTripEveryMessage(t *testing.T) {
	started := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	msgs := []Message{
		&Hello{Version: Version, Token: "s3cret", MAC: "52:54:00:12:34:56", Hostname: "node1", BootID: "b-1", Cores: 2, MemoryBytes: 1 << 30, Profile: "tools-v2", Running: []TaskRef{{ID: 7, Attempt: 2}}},
		&Welcome{Version: Version, Node: "node1", Heartbeat: Duration(time.Second), ServerTime: started},
		&Reject{Reason: "bad token"},
		&Heartbeat{Load1: 0.5, MemAvailableBytes: 123, Running: []TaskRef{{ID: 1, Attempt: 1}}},
		&Request{Slots: 2},
		&Task{TaskRef: TaskRef{ID: 9, Attempt: 1}, Command: "echo hi", Timeout: Duration(5 * time.Second)},
		&Task{TaskRef: TaskRef{ID: 10, Attempt: 1}, Command: "x", Limits: Limits{MemoryBytes: 1 << 30, CPUs: 1.5, Pids: 64}},
		&Result{TaskRef: TaskRef{ID: 9, Attempt: 1}, ExitCode: 3, Stdout: []byte("out\x00bin"), Stderr: []byte("err"), Started: started, Duration: Duration(1500 * time.Millisecond)},
		&ResultAck{TaskRef: TaskRef{ID: 9, Attempt: 1}},
		&Command{Op: OpReboot},
		&Log{Lines: []LogLine{{Time: time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC), Source: "kernel", Text: "hello"}}, Dropped: 2},
		&Command{Op: OpCancel, Task: &TaskRef{ID: 3, Attempt: 2}},
	}
	for _, m := range msgs {
		got := roundTrip(t, m)
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%s: got %+v, want %+v", m.Type(), got, m)
		}
	}
}

func frame(body string) []byte {
	b := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint32(b, uint32(len(body)))
	return append(b, body...)
}

func TestReceiveRejectsBadInput(t *testing.T) {
	huge := make([]byte, 4)
	binary.BigEndian.PutUint32(huge, MaxFrame+1)
	cases := []struct {
		name  string
		input []byte
		want  error
	}{
		{"oversized frame", huge, ErrFrameTooLarge},
		{"not json", frame("hello there"), ErrMalformed},
		{"unknown type", frame(`{"type":"launch-missiles","body":{}}`), ErrUnknownType},
		{"missing body", frame(`{"type":"request"}`), ErrMalformed},
		{"wrong field type", frame(`{"type":"request","body":{"slots":"many"}}`), ErrMalformed},
		{"zero slots", frame(`{"type":"request","body":{"slots":0}}`), ErrMalformed},
		{"absurd slots", frame(`{"type":"request","body":{"slots":100000000}}`), ErrMalformed},
		{"hello bad mac", frame(`{"type":"hello","body":{"mac":"nope","cores":1,"boot_id":"x"}}`), ErrMalformed},
		{"hello no cores", frame(`{"type":"hello","body":{"mac":"52:54:00:00:00:01","cores":0,"boot_id":"x"}}`), ErrMalformed},
		{"hello profile with a space", frame(`{"type":"hello","body":{"mac":"52:54:00:00:00:01","cores":1,"boot_id":"x","profile":"a b"}}`), ErrMalformed},
		{"hello profile too long", frame(`{"type":"hello","body":{"mac":"52:54:00:00:00:01","cores":1,"boot_id":"x","profile":"` + strings.Repeat("p", MaxProfileName+1) + `"}}`), ErrMalformed},
		{"result without id", frame(`{"type":"result","body":{"exit_code":0}}`), ErrMalformed},
		{"task without command", frame(`{"type":"task","body":{"id":1}}`), ErrMalformed},
		{"task with negative cpus", frame(`{"type":"task","body":{"id":1,"command":"x","limits":{"cpus":-2}}}`), ErrMalformed},
		{"command without op", frame(`{"type":"command","body":{}}`), ErrMalformed},
		{"log with a huge line", frame(`{"type":"log","body":{"lines":[{"source":"agent","text":"` + strings.Repeat("x", MaxLogLineLen+1) + `"}]}}`), ErrMalformed},
		{"cancel without task", frame(`{"type":"command","body":{"op":"cancel"}}`), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewConn(bytes.NewBuffer(tc.input)).Receive()
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !IsViolation(err) {
				t.Fatalf("%v should count as a protocol violation", err)
			}
		})
	}
}

func TestHelloWithoutProfileIsValid(t *testing.T) {
	// Agents that predate the profile field send none: still version 1.
	m, err := Decode([]byte(`{"type":"hello","body":{"version":1,"mac":"52:54:00:00:00:01","cores":1,"boot_id":"x"}}`))
	if err != nil || m.(*Hello).Profile != "" {
		t.Fatalf("hello without profile: %v, %+v", err, m)
	}
}

func TestValidProfileName(t *testing.T) {
	for name, want := range map[string]bool{
		"default": true, "tools-v2": true, "Runtime_1.2": true, strings.Repeat("p", MaxProfileName): true,
		"": false, "a b": false, "a=b": false, "tools\n": false, "\"x\"": false, "caf\u00e9": false,
		strings.Repeat("p", MaxProfileName+1): false,
	} {
		if got := ValidProfileName(name); got != want {
			t.Errorf("ValidProfileName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestReceiveStreamErrorsAreNotViolations(t *testing.T) {
	_, err := NewConn(bytes.NewBuffer(nil)).Receive()
	if err != io.EOF {
		t.Fatalf("empty stream: got %v, want io.EOF", err)
	}
	_, err = NewConn(bytes.NewBuffer(frame(`{"type":"req`)[:8])).Receive()
	if !errors.Is(err, io.ErrUnexpectedEOF) || IsViolation(err) {
		t.Fatalf("cut frame: got %v, want unexpected EOF", err)
	}
}

func TestSendRefusesOversizedMessage(t *testing.T) {
	m := &Result{TaskRef: TaskRef{ID: 1}, Stdout: make([]byte, MaxFrame)}
	if err := NewConn(&bytes.Buffer{}).Send(m); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
}

func TestLargestLegalResultFits(t *testing.T) {
	m := &Result{TaskRef: TaskRef{ID: 1}, Stdout: bytes.Repeat([]byte{0xff}, MaxOutput), Stderr: bytes.Repeat([]byte{0xfe}, MaxOutput)}
	got := roundTrip(t, m).(*Result)
	if !bytes.Equal(got.Stdout, m.Stdout) || !bytes.Equal(got.Stderr, m.Stderr) {
		t.Fatal("output changed in transit")
	}
}
