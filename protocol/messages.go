// Package protocol is the request-task protocol spoken between the dispatcher
// and its node agents. Both sides import it; neither imports the other.
//
// An agent keeps one TCP connection to the dispatcher. It opens with Hello,
// the dispatcher answers Welcome (or Reject and closes). From then on the
// agent pulls work: it grants the dispatcher slots with Request, the
// dispatcher sends at most that many Task messages, the agent answers each
// with a Result, which the dispatcher acknowledges with ResultAck once the
// result is safely stored. Heartbeats flow from the agent; Commands (reboot)
// flow from the dispatcher. docs/protocol.md is the specification.
package protocol

import "time"

// Type names a message on the wire.
type Type string

const (
	TypeHello     Type = "hello"
	TypeWelcome   Type = "welcome"
	TypeReject    Type = "reject"
	TypeHeartbeat Type = "heartbeat"
	TypeRequest   Type = "request"
	TypeTask      Type = "task"
	TypeResult    Type = "result"
	TypeResultAck Type = "result-ack"
	TypeCommand   Type = "command"
	TypeLog       Type = "log"
)

// Message is implemented by every message type.
type Message interface {
	Type() Type
}

// TaskRef names one attempt at a task. A task that is handed out again after
// its node vanished gets a new attempt number, so a late result can be told
// apart from the current one.
type TaskRef struct {
	ID      uint64 `json:"id"`
	Attempt int    `json:"attempt"`
}

// Hello is the agent's first message on a connection.
type Hello struct {
	Version      int    `json:"version"`               // the highest version the agent speaks
	MinVersion   int    `json:"min_version,omitempty"` // the lowest; 0: Version only
	Token        string `json:"token"`                 // the cluster's node enrollment secret
	MAC          string `json:"mac"`                   // the NIC the node booted from: its identity
	Hostname     string `json:"hostname"`
	IP           string `json:"ip,omitempty"`
	BootID       string `json:"boot_id"` // changes on every boot of the node
	Cores        int    `json:"cores"`
	MemoryBytes  uint64 `json:"memory_bytes"`
	AgentVersion string `json:"agent_version,omitempty"`
	// Profile is the boot profile the node booted, as its kernel command
	// line says (ramfarm.profile=). Optional: agents that predate it, and
	// agents not booted by a ramfarm dispatcher, send none.
	Profile string `json:"profile,omitempty"`
	// Running lists the tasks still running on the agent when it reconnects
	// (after a network blip or a dispatcher restart), so the dispatcher keeps
	// them leased to this node instead of handing them out again.
	Running []TaskRef `json:"running,omitempty"`
}

// Welcome accepts an agent.
type Welcome struct {
	Version    int       `json:"version"` // the version both sides will speak
	Node       string    `json:"node"`    // the name the dispatcher knows this node by
	Heartbeat  Duration  `json:"heartbeat"`
	ServerTime time.Time `json:"server_time"`
}

// Reject refuses an agent; the dispatcher closes the connection after it.
type Reject struct {
	Reason string `json:"reason"`
}

// Heartbeat reports the node's health. A node that misses three heartbeat
// periods is considered lost.
type Heartbeat struct {
	Load1             float64   `json:"load1"`
	MemAvailableBytes uint64    `json:"mem_available_bytes"`
	Running           []TaskRef `json:"running,omitempty"`
}

// Request grants the dispatcher Slots more tasks. Slots add up: an agent
// sends one Request with its free slots after Welcome, then one Request{1}
// each time a task finishes. Credits, unlike a "free slots now" gauge, cannot
// race with tasks already on the wire.
type Request struct {
	Slots int `json:"slots"`
}

// Task is one unit of work: a shell command.
type Task struct {
	TaskRef
	Command string   `json:"command"`
	Timeout Duration `json:"timeout,omitempty"` // zero: no limit
	Limits  Limits   `json:"limits,omitzero"`
}

// Log forwards lines of the node's console: the kernel's messages and the
// agent's own log. A node has no disk; this is the only record of what it
// said, before a crash included.
type Log struct {
	Lines []LogLine `json:"lines"`
	// Dropped counts lines lost before these because the agent's buffer
	// was full while it had no connection.
	Dropped int `json:"dropped,omitempty"`
}

// LogLine is one line of a node's console.
type LogLine struct {
	Time   time.Time `json:"time"`
	Source string    `json:"source"` // "kernel" or "agent"
	Text   string    `json:"text"`
}

// Limits are what a task may use on its node, enforced with the task's
// cgroup. The zero value of each field means the node's default.
type Limits struct {
	MemoryBytes uint64  `json:"memory_bytes,omitempty"` // memory.max; 0: only the limit all tasks share
	CPUs        float64 `json:"cpus,omitempty"`         // cpu.max in cores; 0: no limit
	Pids        int     `json:"pids,omitempty"`         // pids.max; 0: the node's default
}

// Result reports how one attempt at a task ended. The agent keeps it until
// the dispatcher acknowledges it, resending it after a reconnection.
type Result struct {
	TaskRef
	ExitCode int       `json:"exit_code"` // -1 when the command did not exit by itself
	Error    string    `json:"error,omitempty"`
	Stdout   []byte    `json:"stdout,omitempty"`
	Stderr   []byte    `json:"stderr,omitempty"`
	Started  time.Time `json:"started"`
	Duration Duration  `json:"duration"`
}

// ResultAck tells the agent that a result is stored and may be forgotten.
type ResultAck struct {
	TaskRef
}

// Operations a Command can carry.
const (
	OpReboot = "reboot" // restart the node
	OpCancel = "cancel" // kill the attempt named by Task; its result says "cancelled"
	OpKexec  = "kexec"  // restart straight into Boot's kernel, skipping firmware and PXE
)

// Command asks the agent to do something to its node or to a task. An agent
// ignores, with a log line, an op it does not know, so new ops need no new
// protocol version.
type Command struct {
	Op   string     `json:"op"`
	Task *TaskRef   `json:"task,omitempty"` // for OpCancel
	Boot *BootImage `json:"boot,omitempty"` // for OpKexec
}

// BootImage is a kernel and initramfs for a node to kexec into, from the
// dispatcher's boot HTTP server. The files come over plain HTTP, as they do
// at PXE time, but their digests come over this authenticated channel: a
// node refuses a file whose sha256 differs, so no one on the LAN can slip a
// kernel in.
type BootImage struct {
	Kernel       string `json:"kernel"`        // http:// URL (not https: see Validate)
	KernelSHA256 string `json:"kernel_sha256"` // lowercase hex
	Initrd       string `json:"initrd"`
	InitrdSHA256 string `json:"initrd_sha256"`
	Cmdline      string `json:"cmdline"`
}

func (Hello) Type() Type     { return TypeHello }
func (Welcome) Type() Type   { return TypeWelcome }
func (Reject) Type() Type    { return TypeReject }
func (Heartbeat) Type() Type { return TypeHeartbeat }
func (Request) Type() Type   { return TypeRequest }
func (Task) Type() Type      { return TypeTask }
func (Result) Type() Type    { return TypeResult }
func (ResultAck) Type() Type { return TypeResultAck }
func (Command) Type() Type   { return TypeCommand }
func (Log) Type() Type       { return TypeLog }

// newMessage returns a zero message of type t, or nil for an unknown type.
func newMessage(t Type) Message {
	switch t {
	case TypeHello:
		return &Hello{}
	case TypeWelcome:
		return &Welcome{}
	case TypeReject:
		return &Reject{}
	case TypeHeartbeat:
		return &Heartbeat{}
	case TypeRequest:
		return &Request{}
	case TypeTask:
		return &Task{}
	case TypeResult:
		return &Result{}
	case TypeResultAck:
		return &ResultAck{}
	case TypeCommand:
		return &Command{}
	case TypeLog:
		return &Log{}
	}
	return nil
}
