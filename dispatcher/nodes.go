package dispatcher

import (
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/dispatcher/store"
	"github.com/ramfarm/ramfarm/protocol"
)

// node is the dispatcher's view of one machine. Guarded by Dispatcher.mu.
type node struct {
	name string
	info api.Node // identity and health as last reported

	conn    *agentConn // nil while disconnected
	credits int        // tasks the agent has asked for and not yet received
	leases  map[uint64]*lease
}

// lease ties a running attempt at a task to the node running it.
type lease struct {
	node    *node
	attempt int
}

// register admits an agent that said Hello, or re-admits a known node. It
// returns the node's name.
func (d *Dispatcher) register(c *agentConn, h *protocol.Hello) (string, error) {
	hw, err := net.ParseMAC(h.MAC)
	if err != nil {
		return "", err // validated by the protocol package already
	}
	mac := hw.String() // one spelling per machine, whatever the agent sent
	rec, err := d.store.NodeFor(mac)
	if err != nil {
		return "", fmt.Errorf("name node %s: %w", mac, err)
	}
	name := rec.Name
	now := time.Now()

	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.nodes[name]
	if n == nil {
		n = &node{name: name, leases: map[uint64]*lease{}}
		d.nodes[name] = n
		d.order = append(d.order, n)
	}
	if n.conn != nil && n.conn != c {
		// The agent reconnected before its old connection timed out.
		n.conn.close("replaced by a new connection")
	}
	rebooted := n.info.BootID != h.BootID
	if rebooted {
		n.info.Registered = now
	}
	n.info = api.Node{
		Name: name, MAC: mac, IP: c.remoteIP(), Hostname: h.Hostname,
		State: api.NodeReady, BootID: h.BootID, Profile: h.Profile, Cores: h.Cores,
		MemoryBytes: h.MemoryBytes, MemAvailableBytes: n.info.MemAvailableBytes,
		Load1: n.info.Load1, Registered: n.info.Registered, LastSeen: now, Drained: rec.Drained,
	}
	n.conn, n.credits = c, 0
	// Queued under the lock, so Welcome goes out before anything else.
	version, _ := protocol.Negotiate(h.MinVersion, h.Version) // checked by admissible
	c.send(&protocol.Welcome{Version: version, Node: name, Heartbeat: protocol.Duration(d.cfg.Heartbeat), ServerTime: now.UTC()})
	if rebooted && d.releaseLeases(n, "node rebooted") {
		// A new boot runs none of the old boot's tasks: out they go again.
		d.dispatchLocked()
	}
	d.adopt(n, h.Running)
	return name, nil
}

// adopt leases to n the tasks its agent says it is running, unless they are
// finished or running elsewhere. This is how a restarted dispatcher learns
// what its nodes were doing.
func (d *Dispatcher) adopt(n *node, running []protocol.TaskRef) {
	for _, r := range running {
		if _, leased := d.leases[r.ID]; leased || !d.queue.Queued(r.ID) {
			continue
		}
		d.lease(n, r.ID, r.Attempt)
	}
}

// disconnected records that n's connection c is gone. Its leases stay for
// the grace period: an agent that reconnects soon is still running them.
func (d *Dispatcher) disconnected(n *node, c *agentConn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n.conn != c {
		return // already replaced
	}
	n.conn, n.credits = nil, 0
	if n.info.State == api.NodeReady {
		n.info.State = api.NodeDisconnected
	}
}

// seen notes a sign of life from n.
func (d *Dispatcher) seen(n *node, hb *protocol.Heartbeat) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n.info.LastSeen = time.Now()
	if hb != nil {
		n.info.Load1, n.info.MemAvailableBytes = hb.Load1, hb.MemAvailableBytes
	}
}

// checkNodes closes the connections of nodes that stopped heartbeating and
// returns the tasks of nodes silent for the whole lease period.
func (d *Dispatcher) checkNodes(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	limit := lostAfter * d.cfg.Heartbeat
	released := false
	for _, n := range d.order {
		if n.info.State == api.NodeLost || now.Sub(n.info.LastSeen) <= limit {
			continue
		}
		if n.conn != nil {
			n.conn.close(fmt.Sprintf("missed %d heartbeat periods", lostAfter))
			n.conn, n.credits = nil, 0
		}
		d.log.Warn("node lost", "node", n.name, "silent", now.Sub(n.info.LastSeen).Round(time.Millisecond), "tasks", len(n.leases))
		n.info.State = api.NodeLost
		released = d.releaseLeases(n, "node lost") || released
	}
	if released {
		d.dispatchLocked()
	}
}

// Drain stops (drain true) or resumes handing tasks to a node. Its running
// tasks finish either way. The mark is on disk before Drain returns, so a
// restarted dispatcher keeps a drained node drained.
func (d *Dispatcher) Drain(name string, drain bool) error {
	d.mu.Lock()
	n := d.nodes[name]
	var mac string
	if n != nil {
		mac = n.info.MAC
	}
	d.mu.Unlock()
	if n == nil {
		return fmt.Errorf("%w: no node %q", api.ErrNotFound, name)
	}
	if err := d.store.SetDrained(mac, drain); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n.info.Drained = drain
	if !drain {
		d.dispatchLocked()
	}
	d.log.Info("node drain changed", "node", name, "drained", drain)
	return nil
}

// ConsoleLog returns the last lines a node forwarded of its console. Any
// node ever registered has one, also one that died before this dispatcher
// started: its last words are what its log is most wanted for.
func (d *Dispatcher) ConsoleLog(name string, lines int) ([]string, error) {
	known, err := d.store.Nodes()
	if err != nil {
		return nil, err
	}
	// Only names the dispatcher gave: the name becomes a file name.
	if !slices.ContainsFunc(known, func(n store.Node) bool { return n.Name == name }) {
		return nil, fmt.Errorf("%w: no node %q", api.ErrNotFound, name)
	}
	return d.consoles.tail(name, lines)
}

// Nodes returns the node table, by name.
func (d *Dispatcher) Nodes() []api.Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]api.Node, 0, len(d.order))
	for _, n := range d.order {
		info := n.info
		info.Running = make([]uint64, 0, len(n.leases))
		for id := range n.leases {
			info.Running = append(info.Running, id)
		}
		slices.Sort(info.Running)
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b api.Node) int { return compareNames(a.Name, b.Name) })
	return out
}

// compareNames orders node2 before node10.
func compareNames(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}
