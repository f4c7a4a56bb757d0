package protocol

import (
	"bytes"
	"errors"
	"testing"
)

func TestSendAllWritesEveryMessageInOrder(t *testing.T) {
	var wire bytes.Buffer
	out := NewConn(&wire)
	sent := []Message{&Request{Slots: 2}, &ResultAck{TaskRef: TaskRef{ID: 7, Attempt: 1}}, &Command{Op: OpReboot}}
	if err := out.SendAll(sent...); err != nil {
		t.Fatal(err)
	}
	in := NewConn(&wire)
	for i, want := range sent {
		got, err := in.Receive()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if got.Type() != want.Type() {
			t.Fatalf("message %d is %s, want %s", i, got.Type(), want.Type())
		}
	}
	if wire.Len() != 0 {
		t.Fatalf("%d bytes left after the last message", wire.Len())
	}
}

// A message too large to send fails the call, and nothing of the batch is
// sent, then or with a later call.
func TestSendAllRefusesAnOversizedMessage(t *testing.T) {
	var wire bytes.Buffer
	huge := &Result{Stdout: make([]byte, MaxFrame)}
	c := NewConn(&wire)
	if err := c.SendAll(&Request{Slots: 1}, huge); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
	if err := c.Send(&Command{Op: OpReboot}); err != nil {
		t.Fatal(err)
	}
	if m, err := NewConn(&wire).Receive(); err != nil || m.Type() != TypeCommand {
		t.Fatalf("first message on the wire: %v %v, want the command sent after the failed batch", m, err)
	}
}
