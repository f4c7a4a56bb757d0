package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/protocol"
)

// fakeDispatcher accepts agent connections and lets a test script them.
type fakeDispatcher struct {
	t     *testing.T
	ln    net.Listener
	conns chan net.Conn
}

// testCA is the cluster CA the fake dispatchers prove themselves with;
// agents in these tests pin it.
var testCA = sync.OnceValue(func() *protocol.CA {
	ca, err := protocol.NewCA()
	if err != nil {
		panic(err)
	}
	return ca
})

func newFakeDispatcher(t *testing.T) *fakeDispatcher {
	conf, err := testCA().ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeDispatcher{t: t, ln: ln, conns: make(chan net.Conn, 4)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { nc.Close() })
			f.conns <- nc
		}
	}()
	return f
}

// accept waits for the next agent connection and answers its hello.
func (f *fakeDispatcher) accept() (*protocol.Conn, *protocol.Hello) {
	_, pc, hello := f.acceptConn()
	return pc, hello
}

func (f *fakeDispatcher) acceptConn() (net.Conn, *protocol.Conn, *protocol.Hello) {
	f.t.Helper()
	select {
	case nc := <-f.conns:
		pc := protocol.NewConn(nc)
		hello := expect[*protocol.Hello](f.t, pc)
		if err := pc.Send(&protocol.Welcome{Version: 1, Node: "node1", Heartbeat: protocol.Duration(time.Second)}); err != nil {
			f.t.Fatal(err)
		}
		return nc, pc, hello
	case <-time.After(10 * time.Second):
		f.t.Fatal("agent did not connect")
		return nil, nil, nil
	}
}

// expect receives messages, skipping heartbeats, until one of type T.
func expect[T protocol.Message](t *testing.T, pc *protocol.Conn) T {
	t.Helper()
	type result struct {
		m   protocol.Message
		err error
	}
	for {
		ch := make(chan result, 1)
		go func() { m, err := pc.Receive(); ch <- result{m, err} }()
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatalf("receive: %v", r.err)
			}
			if _, ok := r.m.(*protocol.Heartbeat); ok {
				continue
			}
			m, ok := r.m.(T)
			if !ok {
				t.Fatalf("got %#v, want %T", r.m, m)
			}
			return m
		case <-time.After(10 * time.Second):
			var zero T
			t.Fatalf("no %T within 10s", zero)
		}
	}
}

func startAgent(t *testing.T, addr string, cores int) {
	t.Helper()
	a := New(Config{
		CAPin: testCA().Pin(), Dispatcher: addr, Token: "tok", MAC: "52:54:00:00:00:01", BootID: "b1", Cores: cores, Profile: "tools",
		WorkDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestAgentRegistersAndGrantsOneSlotPerCore(t *testing.T) {
	f := newFakeDispatcher(t)
	startAgent(t, f.ln.Addr().String(), 3)
	pc, hello := f.accept()
	if hello.Token != "tok" || hello.MAC != "52:54:00:00:00:01" || hello.Cores != 3 || hello.Version != protocol.Version || hello.Profile != "tools" {
		t.Fatalf("hello %+v", hello)
	}
	if req := expect[*protocol.Request](t, pc); req.Slots != 3 {
		t.Fatalf("first request for %d slots, want 3", req.Slots)
	}
	pc.Send(&protocol.Task{TaskRef: protocol.TaskRef{ID: 5, Attempt: 1}, Command: "echo $((6*7))"})
	res := expect[*protocol.Result](t, pc)
	if res.ID != 5 || string(res.Stdout) != "42\n" || res.ExitCode != 0 {
		t.Fatalf("result %+v", res)
	}
	if req := expect[*protocol.Request](t, pc); req.Slots != 1 {
		t.Fatalf("request after a result for %d slots, want 1", req.Slots)
	}
}

func TestUnacknowledgedResultIsResentAfterReconnect(t *testing.T) {
	f := newFakeDispatcher(t)
	startAgent(t, f.ln.Addr().String(), 1)
	nc, pc, _ := f.acceptConn()
	expect[*protocol.Request](t, pc)
	pc.Send(&protocol.Task{TaskRef: protocol.TaskRef{ID: 9, Attempt: 2}, Command: "echo kept"})
	first := expect[*protocol.Result](t, pc)
	// The connection drops before the result is acknowledged: the agent
	// must reconnect and deliver the same result again.
	nc.Close()
	pc2, hello := f.accept()
	if len(hello.Running) != 0 {
		t.Fatalf("hello after reconnect lists running tasks %v; the task had finished", hello.Running)
	}
	again := expect[*protocol.Result](t, pc2)
	if again.TaskRef != first.TaskRef || string(again.Stdout) != "kept\n" {
		t.Fatalf("resent %+v, want %+v", again, first)
	}
	pc2.Send(&protocol.ResultAck{TaskRef: again.TaskRef})
	if req := expect[*protocol.Request](t, pc2); req.Slots != 1 {
		t.Fatalf("slots %d after reconnect, want 1", req.Slots)
	}
}

func TestRunningTasksAreListedInHelloAfterReconnect(t *testing.T) {
	f := newFakeDispatcher(t)
	startAgent(t, f.ln.Addr().String(), 2)
	nc, pc, _ := f.acceptConn()
	expect[*protocol.Request](t, pc)
	pc.Send(&protocol.Task{TaskRef: protocol.TaskRef{ID: 4, Attempt: 1}, Command: "sleep 2"})
	time.Sleep(200 * time.Millisecond) // let it start
	nc.Close()
	pc2, hello := f.accept()
	if len(hello.Running) != 1 || hello.Running[0] != (protocol.TaskRef{ID: 4, Attempt: 1}) {
		t.Fatalf("hello.Running = %v, want the sleeping task", hello.Running)
	}
	if req := expect[*protocol.Request](t, pc2); req.Slots != 1 {
		t.Fatalf("asked for %d slots with one of two busy, want 1", req.Slots)
	}
	if res := expect[*protocol.Result](t, pc2); res.ID != 4 || res.ExitCode != 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestRejectedAgentRetries(t *testing.T) {
	f := newFakeDispatcher(t)
	startAgent(t, f.ln.Addr().String(), 1)
	for i := 0; i < 2; i++ {
		select {
		case nc := <-f.conns:
			pc := protocol.NewConn(nc)
			expect[*protocol.Hello](t, pc)
			pc.Send(&protocol.Reject{Reason: "bad enrollment token"})
		case <-time.After(10 * time.Second):
			t.Fatalf("no connection attempt %d after a reject", i+1)
		}
	}
}

func TestRebootCommandCallsReboot(t *testing.T) {
	f := newFakeDispatcher(t)
	rebooted := make(chan struct{}, 1)
	a := New(Config{
		CAPin: testCA().Pin(), Dispatcher: f.ln.Addr().String(), MAC: "52:54:00:00:00:01", BootID: "b", Cores: 1, WorkDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Reboot: func() error { rebooted <- struct{}{}; return fmt.Errorf("rebooting") },
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	pc, _ := f.accept()
	pc.Send(&protocol.Command{Op: protocol.OpReboot})
	select {
	case <-rebooted:
	case <-time.After(10 * time.Second):
		t.Fatal("reboot command did not reboot")
	}
}
