package dispatcher

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/protocol"
)

const testHeartbeat = 100 * time.Millisecond

// harness runs a dispatcher without boot services on loopback.
type harness struct {
	t       *testing.T
	d       *Dispatcher
	addr    string
	metrics string
	dir     string
	stop    context.CancelFunc
	done    chan error
	token   string
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startDispatcher runs a dispatcher on dir; opts may change its Config.
func startDispatcher(t *testing.T, dir string, opts ...func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, dir: dir, addr: freePort(t), metrics: freePort(t), done: make(chan error, 1)}
	cfg := Config{
		StateDir: dir, APISocket: filepath.Join(dir, "api.sock"), AgentAddr: h.addr, MetricsAddr: h.metrics,
		Heartbeat: testHeartbeat, Window: 8,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.d, h.token = d, d.Token()
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.done <- d.Run(ctx) }()
	t.Cleanup(h.shutdown)
	waitFor(t, "dispatcher listening", func() bool {
		c, err := net.Dial("tcp", h.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return h
}

func (h *harness) shutdown() {
	if h.stop == nil {
		return
	}
	h.stop()
	h.stop = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("dispatcher Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		h.t.Error("dispatcher did not stop within 5s")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fakeAgent speaks the protocol by hand, so tests can misbehave on purpose.
type fakeAgent struct {
	t    *testing.T
	nc   net.Conn
	pc   *protocol.Conn
	name string
	mute chan struct{}    // closed to stop heartbeats
	held []*protocol.Task // tasks that arrived while waiting for something else
}

func dial(t *testing.T, h *harness, hello protocol.Hello) (*fakeAgent, protocol.Message) {
	t.Helper()
	conf, err := protocol.AgentTLS(h.d.CAPin())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := tls.Dial("tcp", h.addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	a := &fakeAgent{t: t, nc: nc, pc: protocol.NewConn(nc), mute: make(chan struct{})}
	if hello.Version == 0 {
		hello.Version = protocol.Version
	}
	if hello.Cores == 0 {
		hello.Cores = 1
	}
	if hello.BootID == "" {
		hello.BootID = "boot-1"
	}
	if err := a.pc.Send(&hello); err != nil {
		t.Fatal(err)
	}
	return a, a.receive()
}

func join(t *testing.T, h *harness, mac string, cores int) *fakeAgent {
	t.Helper()
	a, m := dial(t, h, protocol.Hello{Token: h.token, MAC: mac, Cores: cores})
	w, ok := m.(*protocol.Welcome)
	if !ok {
		t.Fatalf("hello from %s answered with %#v, want welcome", mac, m)
	}
	a.name = w.Node
	go a.heartbeat()
	t.Cleanup(a.silence)
	return a
}

// heartbeat keeps the agent alive in the dispatcher's eyes until silenced.
func (a *fakeAgent) heartbeat() {
	tick := time.NewTicker(testHeartbeat / 2)
	defer tick.Stop()
	for {
		select {
		case <-a.mute:
			return
		case <-tick.C:
			if a.pc.Send(&protocol.Heartbeat{}) != nil {
				return
			}
		}
	}
}

// silence stops the heartbeats, as when the node dies.
func (a *fakeAgent) silence() {
	select {
	case <-a.mute:
	default:
		close(a.mute)
	}
}

func (a *fakeAgent) send(m protocol.Message) {
	a.t.Helper()
	if err := a.pc.Send(m); err != nil {
		a.t.Fatalf("%s: send %s: %v", a.name, m.Type(), err)
	}
}

func (a *fakeAgent) receive() protocol.Message {
	a.t.Helper()
	a.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	m, err := a.pc.Receive()
	if err != nil {
		a.t.Fatalf("%s: receive: %v", a.name, err)
	}
	return m
}

// task receives messages until a task arrives.
func (a *fakeAgent) task() *protocol.Task {
	a.t.Helper()
	if len(a.held) > 0 {
		t := a.held[0]
		a.held = a.held[1:]
		return t
	}
	for {
		if t, ok := a.receive().(*protocol.Task); ok {
			return t
		}
	}
}

// complete returns a result that echoes the command and waits for its ack.
func (a *fakeAgent) complete(t *protocol.Task) {
	a.t.Helper()
	a.finish(t, 0)
}

// finish returns a result with exit status exit and waits for its ack.
func (a *fakeAgent) finish(t *protocol.Task, exit int) {
	a.t.Helper()
	a.send(&protocol.Result{TaskRef: t.TaskRef, ExitCode: exit, Stdout: []byte("ran " + t.Command + " on " + a.name)})
	for {
		switch m := a.receive().(type) {
		case *protocol.ResultAck:
			if m.TaskRef != t.TaskRef {
				a.t.Fatalf("ack for %+v, want %+v", m.TaskRef, t.TaskRef)
			}
			return
		case *protocol.Task:
			a.held = append(a.held, m)
		}
	}
}

func submit(t *testing.T, h *harness, cmds ...string) []uint64 {
	t.Helper()
	specs := make([]api.TaskSpec, len(cmds))
	for i, c := range cmds {
		specs[i] = api.TaskSpec{Command: c}
	}
	ids, err := h.d.Submit(specs)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func taskState(t *testing.T, h *harness, id uint64) api.Task {
	t.Helper()
	task, err := h.d.Task(id)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func TestTasksSpreadRoundRobinAndResultsAreRecorded(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	a := join(t, h, "52:54:00:00:00:01", 1)
	b := join(t, h, "52:54:00:00:00:02", 1)
	ids := submit(t, h, "c1", "c2", "c3", "c4", "c5", "c6")

	perNode := map[string]int{}
	a.send(&protocol.Request{Slots: 1})
	b.send(&protocol.Request{Slots: 1})
	for i := 0; i < len(ids)/2; i++ {
		for _, ag := range []*fakeAgent{a, b} {
			task := ag.task()
			ag.complete(task)
			perNode[ag.name]++
			ag.send(&protocol.Request{Slots: 1})
		}
	}
	if perNode[a.name] != 3 || perNode[b.name] != 3 {
		t.Fatalf("tasks per node %v: want 3 each", perNode)
	}
	for _, id := range ids {
		task := taskState(t, h, id)
		if task.State != api.TaskDone || !strings.HasPrefix(task.Result.Stdout, "ran "+task.Command) {
			t.Errorf("task %d = %+v, want done with its own output", id, task)
		}
	}
}

func TestBadTokenIsRejected(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	_, m := dial(t, h, protocol.Hello{Token: "guess", MAC: "52:54:00:00:00:09"})
	if r, ok := m.(*protocol.Reject); !ok || !strings.Contains(r.Reason, "token") {
		t.Fatalf("got %#v, want a reject naming the token", m)
	}
	if n := h.d.Nodes(); len(n) != 0 {
		t.Fatalf("rejected agent registered: %+v", n)
	}
}

func TestProtocolViolationClosesOnlyThatConnection(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	bad := join(t, h, "52:54:00:00:00:01", 1)
	good := join(t, h, "52:54:00:00:00:02", 1)

	bad.nc.Write([]byte{0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'}) // a frame that is not JSON
	bad.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := bad.pc.Receive(); err != nil {
			break // closed by the dispatcher, as it should be
		}
	}
	// A message an agent may not send closes that connection too.
	odd := join(t, h, "52:54:00:00:00:03", 1)
	odd.send(&protocol.Task{TaskRef: protocol.TaskRef{ID: 1, Attempt: 1}, Command: "x"})
	odd.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := odd.pc.Receive(); err != nil {
			break
		}
	}

	ids := submit(t, h, "still-serving")
	good.send(&protocol.Request{Slots: 1})
	task := good.task()
	good.complete(task)
	if got := taskState(t, h, ids[0]); got.State != api.TaskDone || got.Node != good.name {
		t.Fatalf("task after violations = %+v, want done by %s", got, good.name)
	}
}

func TestTasksOfALostNodeRunElsewhere(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	victim := join(t, h, "52:54:00:00:00:01", 2)
	ids := submit(t, h, "long-1", "long-2")
	victim.send(&protocol.Request{Slots: 2})
	victim.task()
	victim.task()
	victim.silence()
	// The victim goes silent: no heartbeats, no results. After three
	// periods the dispatcher must give its tasks to another node.
	rescuer := join(t, h, "52:54:00:00:00:02", 2)
	rescuer.send(&protocol.Request{Slots: 2})
	got := map[uint64]int{}
	for range ids {
		task := rescuer.task()
		got[task.ID] = task.Attempt
		rescuer.complete(task)
	}
	for _, id := range ids {
		if got[id] != 2 {
			t.Errorf("task %d reached the rescuer as attempt %d, want 2", id, got[id])
		}
		if task := taskState(t, h, id); task.State != api.TaskDone || task.Node != rescuer.name {
			t.Errorf("task %d = %+v, want done by %s", id, task, rescuer.name)
		}
	}
	waitFor(t, "victim marked lost", func() bool {
		for _, n := range h.d.Nodes() {
			if n.Name == victim.name {
				return n.State == api.NodeLost
			}
		}
		return false
	})
}

func TestLateResultIsRecordedOnce(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	slow := join(t, h, "52:54:00:00:00:01", 1)
	ids := submit(t, h, "once")
	slow.send(&protocol.Request{Slots: 1})
	first := slow.task()
	slow.silence()

	fast := join(t, h, "52:54:00:00:00:02", 1)
	fast.send(&protocol.Request{Slots: 1})
	second := fast.task() // after slow was declared lost
	fast.complete(second)

	// The slow node comes back, same boot, and delivers its late result.
	slow2 := join(t, h, "52:54:00:00:00:01", 1)
	slow2.send(&protocol.Result{TaskRef: first.TaskRef, Stdout: []byte("late")})
	if ack, ok := slow2.receive().(*protocol.ResultAck); !ok || ack.TaskRef != first.TaskRef {
		t.Fatalf("late result not acknowledged: %#v", ack)
	}
	task := taskState(t, h, ids[0])
	if task.Node != fast.name || task.Attempt != second.Attempt || strings.Contains(task.Result.Stdout, "late") {
		t.Fatalf("recorded %+v; want the first result to arrive (from %s), recorded once", task, fast.name)
	}
}

func TestRestartKeepsTasksAndResults(t *testing.T) {
	dir := t.TempDir()
	h := startDispatcher(t, dir)
	a := join(t, h, "52:54:00:00:00:01", 1)
	ids := submit(t, h, "before-1", "before-2", "before-3")
	a.send(&protocol.Request{Slots: 1})
	a.complete(a.task())
	h.shutdown()

	h2 := startDispatcher(t, dir)
	if h2.token != h.token {
		t.Fatal("node token changed across a restart")
	}
	a2 := join(t, h2, "52:54:00:00:00:01", 1)
	if a2.name != a.name {
		t.Fatalf("node renamed across a restart: %s -> %s", a.name, a2.name)
	}
	a2.send(&protocol.Request{Slots: 1})
	for i := 0; i < 2; i++ {
		a2.complete(a2.task())
		a2.send(&protocol.Request{Slots: 1})
	}
	for _, id := range ids {
		if task := taskState(t, h2, id); task.State != api.TaskDone {
			t.Errorf("task %d after restart: %+v, want done", id, task)
		}
	}
}

func TestRebootCommandAndNewBoot(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	a := join(t, h, "52:54:00:00:00:01", 1)
	submit(t, h, "interrupted")
	a.send(&protocol.Request{Slots: 1})
	running := a.task()
	if err := h.d.Reboot(a.name); err != nil {
		t.Fatal(err)
	}
	if c, ok := a.receive().(*protocol.Command); !ok || c.Op != protocol.OpReboot {
		t.Fatalf("want a reboot command, got %#v", c)
	}
	if err := h.d.Reboot("nosuchnode"); err == nil {
		t.Fatal("reboot of an unknown node succeeded")
	}
	a.nc.Close()
	// The node comes back with a new boot id: its old task must go out again.
	back, m := dial(t, h, protocol.Hello{Token: h.token, MAC: "52:54:00:00:00:01", BootID: "boot-2"})
	if _, ok := m.(*protocol.Welcome); !ok {
		t.Fatalf("got %#v", m)
	}
	back.send(&protocol.Request{Slots: 1})
	again := back.task()
	if again.ID != running.ID || again.Attempt != running.Attempt+1 {
		t.Fatalf("after reboot got %+v, want task %d attempt %d", again.TaskRef, running.ID, running.Attempt+1)
	}
	nodes := h.d.Nodes()
	if len(nodes) != 1 || nodes[0].BootID != "boot-2" || nodes[0].State != api.NodeReady {
		t.Fatalf("node table after reboot: %+v", nodes)
	}
}

func TestSubmitRejectsBadInput(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	for _, specs := range [][]api.TaskSpec{nil, {{Command: "  "}}, {{Command: "x", Timeout: -time.Second}}} {
		if _, err := h.d.Submit(specs); err == nil {
			t.Errorf("Submit(%+v) succeeded", specs)
		}
	}
}

func TestTokenFileIsPrivateAndStable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node-token")
	a, err := loadOrCreateToken(path)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := loadOrCreateToken(path)
	if a != b || len(a) < 32 {
		t.Fatalf("tokens %q then %q: want one stable token of 32+ characters", a, b)
	}
	os.WriteFile(path, []byte("short\n"), 0o600)
	if _, err := loadOrCreateToken(path); err == nil {
		t.Fatal(fmt.Sprintf("a %d-character token was accepted", len("short")))
	}
}

func TestMACSpellingsAreOneNode(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	a := join(t, h, "52:54:00:AB:CD:EF", 1)
	b := join(t, h, "52-54-00-ab-cd-ef", 1)
	if a.name != b.name {
		t.Fatalf("one machine got two names: %s and %s", a.name, b.name)
	}
	if n := h.d.Nodes(); len(n) != 1 || n[0].MAC != "52:54:00:ab:cd:ef" {
		t.Fatalf("node table %+v; want one node with the canonical MAC", n)
	}
}

func TestMetrics(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	dial(t, h, protocol.Hello{Token: "wrong", MAC: "52:54:00:00:00:09"})
	a := join(t, h, "52:54:00:00:00:01", 1)
	submit(t, h, "a", "b")
	a.send(&protocol.Request{Slots: 1})
	a.complete(a.task())

	resp, err := http.Get("http://" + h.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`ramfarm_nodes{state="ready"} 1`,
		"ramfarm_tasks_submitted_total 2",
		`ramfarm_results_total{outcome="succeeded"} 1`,
		"ramfarm_tasks_running 0", // the agent asked for no more work after its one task
		"ramfarm_tasks_queued 1",
		"ramfarm_agents_rejected_total 1",
		"# TYPE ramfarm_tasks_queued gauge",
		"# TYPE ramfarm_store_commit_groups_total counter",
		"ramfarm_store_committed_writes_total 2", // the node, its one result
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
