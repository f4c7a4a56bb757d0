package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ramfarm/ramfarm/protocol"
)

// helloTimeout bounds how long a new connection may stay silent.
const helloTimeout = 10 * time.Second

// sendQueue is how many messages may wait for a slow agent. An agent gets
// at most its credits in tasks plus a few acks and commands, so a full queue
// means the agent stopped reading.
const sendQueue = 256

// maxInflightResults bounds the results of one connection being stored at
// once: enough to fill a group commit, small next to sendQueue, so the acks
// they produce always fit.
const maxInflightResults = 64

// serveAgents accepts agent connections until ctx is cancelled.
func (d *Dispatcher) serveAgents(ctx context.Context, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("agent listener closed: %w", err)
			}
			d.log.Warn("accept agent connection", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		c := newAgentConn(nc, d.log, d.tasksFor)
		wg.Add(1)
		go func() {
			defer wg.Done()
			stop := context.AfterFunc(ctx, func() { c.close("dispatcher shutting down") })
			defer stop()
			d.handleAgent(c)
		}()
	}
}

// handleAgent runs one agent connection: Hello, then messages until the
// connection ends. A protocol violation closes this connection only.
func (d *Dispatcher) handleAgent(c *agentConn) {
	defer c.close("connection ended")
	c.nc.SetReadDeadline(time.Now().Add(helloTimeout))
	m, err := c.pc.Receive()
	if err != nil {
		c.log.Warn("agent connection dropped before hello", "reason", err)
		return
	}
	hello, ok := m.(*protocol.Hello)
	if !ok {
		c.log.Warn("agent connection dropped", "reason", fmt.Sprintf("first message is %s, want hello", m.Type()))
		return
	}
	if reason := d.admissible(hello); reason != "" {
		d.counters.rejected.Add(1)
		c.log.Warn("agent refused", "mac", hello.MAC, "reason", reason)
		c.pc.Send(&protocol.Reject{Reason: reason})
		return
	}
	name, err := d.register(c, hello)
	if err != nil {
		c.log.Error("agent registration failed", "mac", hello.MAC, "err", err)
		c.pc.Send(&protocol.Reject{Reason: "dispatcher error"})
		return
	}
	c.log = c.log.With("node", name)
	d.mu.Lock()
	n := d.nodes[name]
	d.mu.Unlock()
	defer d.disconnected(n, c)

	go c.writeLoop()
	c.log.Info("node registered", "mac", hello.MAC, "ip", c.remoteIP(), "boot_id", hello.BootID, "cores", hello.Cores, "running", len(hello.Running))

	for {
		// A live agent heartbeats; three silent periods end the connection.
		c.nc.SetReadDeadline(time.Now().Add(lostAfter * d.cfg.Heartbeat))
		m, err := c.pc.Receive()
		if err != nil {
			if protocol.IsViolation(err) {
				d.counters.violations.Add(1)
			}
			c.logEnd(err)
			return
		}
		if err := d.handleMessage(n, c, m); err != nil {
			d.counters.violations.Add(1)
			c.log.Warn("closing agent connection", "reason", err)
			return
		}
	}
}

func (d *Dispatcher) admissible(h *protocol.Hello) string {
	if !tokenMatches(d.token, h.Token) {
		return "bad enrollment token"
	}
	if _, err := protocol.Negotiate(h.MinVersion, h.Version); err != nil {
		return err.Error()
	}
	return ""
}

func (d *Dispatcher) handleMessage(n *node, c *agentConn, m protocol.Message) error {
	switch m := m.(type) {
	case *protocol.Heartbeat:
		d.seen(n, m)
	case *protocol.Request:
		d.seen(n, nil)
		d.grant(n, m.Slots)
	case *protocol.Result:
		d.seen(n, nil)
		// Record in the background so the next results from this agent join
		// the same group commit instead of waiting for this one's fsync. The
		// semaphore bounds the work one connection can have in flight; when
		// it is full, reading stops, which pushes back on the agent.
		c.inflight <- struct{}{}
		d.recordResult(n, m, func(err error) {
			defer func() { <-c.inflight }()
			if err != nil {
				// Not acknowledged: the agent keeps the result and resends it.
				c.log.Error("cannot store result", "task", m.ID, "err", err)
				return
			}
			c.send(&protocol.ResultAck{TaskRef: m.TaskRef})
		})
	case *protocol.Log:
		if err := d.consoles.append(n.name, m); err != nil {
			c.log.Warn("cannot keep the node's console log", "err", err)
		}
	default:
		return fmt.Errorf("unexpected %s message from an agent", m.Type())
	}
	return nil
}

// agentConn is one agent's connection. Writes go through a queue drained by
// writeLoop so that a slow agent never blocks the dispatcher's lock holders.
type agentConn struct {
	nc  net.Conn
	pc  *protocol.Conn
	log *slog.Logger

	out       chan protocol.Message
	tasksFor  func([]*handout) []*protocol.Task // reads handouts' commands; nil: not to be sent
	inflight  chan struct{}                     // results being stored
	done      chan struct{}
	closeOnce sync.Once
}

func newAgentConn(nc net.Conn, log *slog.Logger, tasksFor func([]*handout) []*protocol.Task) *agentConn {
	return &agentConn{
		nc: nc, pc: protocol.NewConn(nc), log: log.With("remote", nc.RemoteAddr().String()), tasksFor: tasksFor,
		out: make(chan protocol.Message, sendQueue), done: make(chan struct{}),
		inflight: make(chan struct{}, maxInflightResults),
	}
}

// send queues m; it never blocks. If the queue is full the agent is not
// reading and the connection is closed.
func (c *agentConn) send(m protocol.Message) {
	select {
	case c.out <- m:
	case <-c.done:
	default:
		c.log.Warn("closing agent connection", "reason", "send queue full: agent not reading")
		c.close("send queue full")
	}
}

// writeLoop sends queued messages, everything that is waiting in one write:
// under load that is one system call for many tasks and acks.
func (c *agentConn) writeLoop() {
	batch := make([]protocol.Message, 0, maxWriteBatch)
	for {
		select {
		case m := <-c.out:
			batch = append(batch[:0], m)
		case <-c.done:
			return
		}
	more:
		for len(batch) < maxWriteBatch {
			select {
			case m := <-c.out:
				batch = append(batch, m)
			default:
				break more
			}
		}
		if batch = c.resolveHandouts(batch); len(batch) == 0 {
			continue
		}
		c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if err := c.pc.SendAll(batch...); err != nil {
			c.close(fmt.Sprintf("write: %v", err))
			return
		}
	}
}

// maxWriteBatch bounds the messages written at once, and so the write
// buffer a connection grows.
const maxWriteBatch = 64

// resolveHandouts turns the handouts in batch into their Tasks, all read
// from the store at once, and drops those not to be sent after all.
func (c *agentConn) resolveHandouts(batch []protocol.Message) []protocol.Message {
	var hs []*handout
	for _, m := range batch {
		if h, ok := m.(*handout); ok {
			hs = append(hs, h)
		}
	}
	if len(hs) == 0 {
		return batch
	}
	tasks := c.tasksFor(hs)
	out, next := batch[:0], 0
	for _, m := range batch {
		if _, ok := m.(*handout); ok {
			t := tasks[next]
			next++
			if t == nil {
				continue
			}
			m = t
		}
		out = append(out, m)
	}
	return out
}

func (c *agentConn) close(reason string) {
	c.closeOnce.Do(func() {
		c.log.Debug("agent connection closed", "reason", reason)
		close(c.done)
		c.nc.Close()
	})
}

func (c *agentConn) logEnd(err error) {
	select {
	case <-c.done:
		return // we closed it, and said why
	default:
	}
	switch {
	case errors.Is(err, io.EOF):
		c.log.Info("agent disconnected")
	case protocol.IsViolation(err):
		c.log.Warn("closing agent connection", "reason", err)
	default:
		c.log.Warn("agent connection failed", "reason", err)
	}
}

func (c *agentConn) remoteIP() string {
	if a, ok := c.nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return c.nc.RemoteAddr().String()
}
