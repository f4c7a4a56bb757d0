// Package agent is the program every node runs: as the init of the node
// image it brings the machine up (agent/sysinit, agent/kmod,
// agent/netconf), then registers with the dispatcher, pulls tasks, runs them
// and returns their results.
package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/ramfarm/ramfarm/protocol"
)

// Config says who this node is and where its dispatcher is.
type Config struct {
	Dispatcher string // host:port
	CAPin      string // the cluster CA the dispatcher must prove it holds (protocol.CAPin)
	Token      string // node enrollment secret
	MAC        string
	Hostname   string
	IP         string
	BootID     string
	Profile    string // the boot profile the node booted; "" if unknown
	Cores      int    // task slots
	// Prefetch is how many tasks the agent asks for beyond its slots and
	// keeps queued, so that the next one starts the moment a slot frees,
	// without a round trip to the dispatcher: worth it for short tasks.
	// The cost: a queued task waits for this node even if another goes
	// idle meanwhile, so 0 (the default) for long ones.
	Prefetch int
	Memory   uint64 // bytes
	WorkDir  string // task workspaces are created under it
	// SetClock moves the node's clock by the given offset, to the
	// dispatcher's time; nil: the agent leaves the clock alone.
	SetClock func(offset time.Duration) error
	// Cgroups gives each task a cgroup of its own; nil: a process group only.
	Cgroups *taskCgroups
	// Reboot restarts the node when the dispatcher says so.
	Reboot func() error
	// Kexec restarts the node into another kernel when the dispatcher says
	// so. It returns only on failure, and the node then stays up.
	Kexec func(protocol.BootImage) error
	// Console, if set, is forwarded to the dispatcher while connected.
	Console *ConsoleLog
	Logger  *slog.Logger
}

// Agent runs tasks for a dispatcher. It survives lost connections: running
// tasks go on, and finished results wait until a dispatcher acknowledges
// them, across as many reconnections as it takes.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	runner  runner
	workers *workers

	mu      sync.Mutex
	conn    *protocol.Conn                               // nil between connections
	running map[protocol.TaskRef]context.CancelCauseFunc // cancels the attempt's run
	queued  []queuedTask                                 // prefetched, waiting for a slot
	unacked map[protocol.TaskRef]*protocol.Result
}

// New returns an agent for cfg.
func New(cfg Config) *Agent {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Cores < 1 {
		cfg.Cores = 1
	}
	return &Agent{
		cfg: cfg, log: cfg.Logger, runner: runner{workDir: cfg.WorkDir, cgroups: cfg.Cgroups}, workers: newWorkers(),
		running: map[protocol.TaskRef]context.CancelCauseFunc{}, unacked: map[protocol.TaskRef]*protocol.Result{},
	}
}

// Reconnection backoff: grows from min to max, with jitter so that a rack
// of nodes does not reconnect in lockstep after a dispatcher restart.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 15 * time.Second
)

// Run keeps a connection to the dispatcher until ctx is cancelled.
func (a *Agent) Run(ctx context.Context) error {
	backoff := minBackoff
	for {
		start := time.Now()
		err := a.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(start) > time.Minute {
			backoff = minBackoff // the last connection was healthy
		}
		wait := backoff/2 + rand.N(backoff)
		a.log.Warn("dispatcher connection ended; reconnecting", "reason", err, "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// errRejected marks a dispatcher's refusal.
var errRejected = errors.New("rejected by dispatcher")

// session runs one connection: hello, then tasks until it breaks.
func (a *Agent) session(ctx context.Context) error {
	tlsConf, err := protocol.AgentTLS(a.cfg.CAPin)
	if err != nil {
		return err
	}
	tcp, err := (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}).DialContext(ctx, "tcp", a.cfg.Dispatcher)
	if err != nil {
		return err
	}
	nc := tls.Client(tcp, tlsConf)
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	pc := protocol.NewConn(nc)

	sent := time.Now()
	welcome, err := a.handshake(nc, pc)
	if err != nil {
		return err
	}
	a.syncClock(sent, time.Now(), welcome.ServerTime)
	a.log.Info("registered with dispatcher", "dispatcher", a.cfg.Dispatcher, "node", welcome.Node, "heartbeat", welcome.Heartbeat.Std())

	if err := a.attach(pc); err != nil {
		return err
	}
	defer a.detach(pc)

	every := welcome.Heartbeat.Std()
	if every <= 0 {
		every = 5 * time.Second
	}
	setUserTimeout(tcp, 3*every)
	hbDone := make(chan struct{})
	defer close(hbDone)
	go a.heartbeat(nc, pc, every, hbDone)
	if a.cfg.Console != nil {
		go a.cfg.Console.forward(pc, time.Second, hbDone)
	}

	for {
		// The dispatcher talks at least as often as we heartbeat only when
		// busy; silence is normal, so no read deadline: a dead dispatcher is
		// noticed by TCP keepalive or by a failed heartbeat write.
		nc.SetReadDeadline(time.Time{})
		m, err := pc.Receive()
		if err != nil {
			return err
		}
		if err := a.handle(ctx, pc, m); err != nil {
			return err
		}
	}
}

func (a *Agent) handshake(nc net.Conn, pc *protocol.Conn) (*protocol.Welcome, error) {
	a.mu.Lock()
	hello := &protocol.Hello{
		Version: protocol.Version, MinVersion: protocol.MinVersion, Token: a.cfg.Token, MAC: a.cfg.MAC, Hostname: a.cfg.Hostname,
		IP: a.cfg.IP, BootID: a.cfg.BootID, Cores: a.cfg.Cores, MemoryBytes: a.cfg.Memory,
		AgentVersion: Version, Profile: a.cfg.Profile, Running: a.refsLocked(),
	}
	a.mu.Unlock()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	defer nc.SetDeadline(time.Time{})
	if err := pc.Send(hello); err != nil {
		return nil, err
	}
	m, err := pc.Receive()
	if err != nil {
		return nil, err
	}
	switch m := m.(type) {
	case *protocol.Welcome:
		if m.Version < protocol.MinVersion || m.Version > protocol.Version {
			return nil, fmt.Errorf("dispatcher chose protocol version %d; we speak %d..%d", m.Version, protocol.MinVersion, protocol.Version)
		}
		return m, nil
	case *protocol.Reject:
		return nil, fmt.Errorf("%w: %s", errRejected, m.Reason)
	default:
		return nil, fmt.Errorf("dispatcher answered hello with %s", m.Type())
	}
}

// attach makes pc the connection results go to, resends the results the
// previous dispatcher connection did not acknowledge, and asks for work for
// every free slot.
func (a *Agent) attach(pc *protocol.Conn) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.conn = pc
	for _, r := range a.unacked {
		if err := pc.Send(r); err != nil {
			return err
		}
	}
	if free := a.cfg.Cores + a.cfg.Prefetch - len(a.running) - len(a.queued); free > 0 {
		return pc.Send(&protocol.Request{Slots: free})
	}
	return nil
}

func (a *Agent) detach(pc *protocol.Conn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn == pc {
		a.conn = nil
	}
}

func (a *Agent) handle(ctx context.Context, pc *protocol.Conn, m protocol.Message) error {
	switch m := m.(type) {
	case *protocol.Task:
		a.start(ctx, m)
	case *protocol.ResultAck:
		a.mu.Lock()
		delete(a.unacked, m.TaskRef)
		a.mu.Unlock()
	case *protocol.Command:
		return a.command(m)
	default:
		return fmt.Errorf("protocol violation: unexpected %s from dispatcher", m.Type())
	}
	return nil
}

func (a *Agent) command(c *protocol.Command) error {
	switch c.Op {
	case protocol.OpReboot:
		a.log.Warn("rebooting at the dispatcher's request")
		if a.cfg.Reboot == nil {
			return errors.New("reboot requested but this agent cannot reboot its machine")
		}
		return a.cfg.Reboot()
	case protocol.OpKexec:
		if a.cfg.Kexec == nil {
			return errors.New("kexec requested but this agent cannot restart its machine")
		}
		a.log.Warn("restarting into a new kernel at the dispatcher's request", "kernel", c.Boot.Kernel, "initrd", c.Boot.Initrd)
		// On failure the connection ends with the reason and the agent
		// registers again, with the same boot id: the dispatcher sees the
		// node ready again, and the operator finds why in its log.
		return fmt.Errorf("kexec failed, the node stays up: %w", a.cfg.Kexec(*c.Boot))
	case protocol.OpCancel:
		if a.cancelQueued(*c.Task) {
			a.log.Info("cancelled a queued task at the dispatcher's request", "task", c.Task.ID, "attempt", c.Task.Attempt)
			return nil
		}
		a.mu.Lock()
		cancel, ok := a.running[*c.Task]
		a.mu.Unlock()
		if !ok {
			// Finished already: its result is on its way or acknowledged.
			a.log.Info("cancel for a task not running here", "task", c.Task.ID, "attempt", c.Task.Attempt)
			return nil
		}
		a.log.Info("cancelling task at the dispatcher's request", "task", c.Task.ID, "attempt", c.Task.Attempt)
		cancel(errCancelled)
		return nil
	default:
		a.log.Warn("ignoring unknown command", "op", c.Op)
		return nil
	}
}

// queuedTask is a prefetched task and the context it will run under.
type queuedTask struct {
	ctx  context.Context
	task *protocol.Task
}

// start runs a task in the background, or queues it if every slot is busy
// and the prefetch queue has room.
func (a *Agent) start(ctx context.Context, t *protocol.Task) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.running[t.TaskRef]; dup || a.queuedLocked(t.TaskRef) >= 0 {
		return // already have this very attempt (a resent task)
	}
	if len(a.running) >= a.cfg.Cores {
		if len(a.queued) < a.cfg.Prefetch {
			a.queued = append(a.queued, queuedTask{ctx, t})
			return
		}
		a.log.Warn("dispatcher sent a task beyond our free slots; running it anyway", "task", t.ID)
	}
	a.launchLocked(ctx, t)
}

func (a *Agent) launchLocked(ctx context.Context, t *protocol.Task) {
	ctx, cancel := context.WithCancelCause(ctx)
	a.running[t.TaskRef] = cancel
	a.workers.run(func() {
		defer cancel(nil)
		res := a.runner.run(ctx, t)
		a.finish(res)
	})
}

func (a *Agent) queuedLocked(ref protocol.TaskRef) int {
	for i, q := range a.queued {
		if q.task.TaskRef == ref {
			return i
		}
	}
	return -1
}

// cancelQueued ends a prefetched task that has not started: its result
// says cancelled and its credit goes back. It reports whether it was queued.
func (a *Agent) cancelQueued(ref protocol.TaskRef) bool {
	a.mu.Lock()
	i := a.queuedLocked(ref)
	if i < 0 {
		a.mu.Unlock()
		return false
	}
	a.queued = slices.Delete(a.queued, i, i+1)
	r := &protocol.Result{TaskRef: ref, ExitCode: -1, Error: errCancelled.Error(), Started: time.Now().UTC()}
	a.unacked[ref] = r
	pc := a.conn
	a.mu.Unlock()
	if pc != nil {
		pc.SendAll(r, &protocol.Request{Slots: 1})
	}
	return true
}

// finish keeps a result until acknowledged, starts the next prefetched
// task on the freed slot, and asks for another.
func (a *Agent) finish(r *protocol.Result) {
	a.mu.Lock()
	delete(a.running, r.TaskRef)
	a.unacked[r.TaskRef] = r
	if len(a.queued) > 0 && len(a.running) < a.cfg.Cores {
		next := a.queued[0]
		a.queued = slices.Delete(a.queued, 0, 1)
		a.launchLocked(next.ctx, next.task)
	}
	pc := a.conn
	a.mu.Unlock()
	if pc == nil {
		return // attach will resend it and count the slot
	}
	// The result and the request for the freed slot go in one write, so
	// the dispatcher wakes once for both and the next task comes sooner.
	// Errors end the session through the read loop; the result is resent.
	pc.SendAll(r, &protocol.Request{Slots: 1})
}

func (a *Agent) refsLocked() []protocol.TaskRef {
	refs := make([]protocol.TaskRef, 0, len(a.running)+len(a.queued))
	for _, q := range a.queued {
		refs = append(refs, q.task.TaskRef) // leased to us as much as the running ones
	}
	for r := range a.running {
		refs = append(refs, r)
	}
	return refs
}

// heartbeat reports health every period; a failed send closes the
// connection so that the session's read loop ends too.
func (a *Agent) heartbeat(nc net.Conn, pc *protocol.Conn, every time.Duration, done <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	// The first report goes out at once, so the node table shows the
	// node's health as soon as it registers.
	for first := true; ; first = false {
		if !first {
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
		a.mu.Lock()
		hb := &protocol.Heartbeat{Running: a.refsLocked()}
		a.mu.Unlock()
		hb.Load1, hb.MemAvailableBytes = loadAndMemory()
		if err := pc.Send(hb); err != nil {
			nc.Close()
			return
		}
	}
}
