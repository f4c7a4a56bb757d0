// Package api is the dispatcher's control API: the JSON types, the HTTP
// handler the dispatcher serves on its Unix socket, and the client the
// console uses. It is local by design: the socket is a file only root can
// open, so the API is never exposed to the LAN by accident.
package api

import (
	"time"

	"github.com/ramfarm/ramfarm/protocol"
)

// Node states.
const (
	NodeReady        = "ready"        // connected and heartbeating
	NodeRebooting    = "rebooting"    // asked to reboot, not back yet
	NodeDisconnected = "disconnected" // connection gone, tasks still leased for a grace period
	NodeLost         = "lost"         // missed 3 heartbeat periods: its tasks went back to the queue
)

// Node is one row of the node table.
type Node struct {
	Name              string    `json:"name"`
	MAC               string    `json:"mac"`
	IP                string    `json:"ip"`
	Hostname          string    `json:"hostname"`
	State             string    `json:"state"`
	BootID            string    `json:"boot_id"`
	Profile           string    `json:"profile,omitempty"` // the boot profile the node says it booted; "" if it did not say
	Drained           bool      `json:"drained,omitempty"` // gets no new tasks (ramfarm drain); survives restarts
	Cores             int       `json:"cores"`
	MemoryBytes       uint64    `json:"memory_bytes"`
	MemAvailableBytes uint64    `json:"mem_available_bytes"`
	Load1             float64   `json:"load1"`
	Registered        time.Time `json:"registered"` // when this boot of the node registered
	LastSeen          time.Time `json:"last_seen"`
	Running           []uint64  `json:"running"` // task ids
}

// Task states.
const (
	TaskQueued    = "queued"
	TaskRunning   = "running"
	TaskDone      = "done"      // exited 0
	TaskFailed    = "failed"    // exited non-zero, timed out or could not start
	TaskCancelled = "cancelled" // cancelled before it finished
)

// CancelledError is the error of the result recorded for a cancelled task.
const CancelledError = "cancelled"

// TaskSpec is one task to submit.
type TaskSpec struct {
	Command string        `json:"command"`
	Timeout time.Duration `json:"timeout,omitempty"`
	// Priority orders queued tasks: higher goes out first, from
	// MinPriority to MaxPriority; 0 by default.
	Priority int `json:"priority,omitempty"`
	// Retries is how many times a failed attempt (non-zero exit, timeout,
	// could not start) runs again before its failure is the result; at
	// most MaxRetries. A task whose node is lost runs again regardless.
	Retries int `json:"retries,omitempty"`
	// Limits caps the task's memory, CPU and processes on its node
	// (through its cgroup); zero fields leave the node's defaults.
	Limits protocol.Limits `json:"limits,omitzero"`
}

// Bounds of TaskSpec fields.
const (
	MinPriority = -100
	MaxPriority = 100
	MaxRetries  = 100
)

// SubmitRequest submits tasks. They are stored before the reply is sent.
type SubmitRequest struct {
	Tasks []TaskSpec `json:"tasks"`
}

// SubmitReply lists the new tasks' ids, in submission order.
type SubmitReply struct {
	IDs []uint64 `json:"ids"`
}

// Task is a task with its state and, once finished, its result.
type Task struct {
	ID        uint64          `json:"id"`
	Command   string          `json:"command"`
	Timeout   time.Duration   `json:"timeout,omitempty"`
	Priority  int             `json:"priority,omitempty"`
	Retries   int             `json:"retries,omitempty"`
	Limits    protocol.Limits `json:"limits,omitzero"`
	Submitted time.Time       `json:"submitted"`
	State     string          `json:"state"`
	Node      string          `json:"node,omitempty"` // running on, or ran on
	Attempt   int             `json:"attempt,omitempty"`
	Result    *Result         `json:"result,omitempty"`
}

// Result is how a task ended.
type Result struct {
	ExitCode int           `json:"exit_code"`
	Error    string        `json:"error,omitempty"`
	Stdout   string        `json:"stdout"`
	Stderr   string        `json:"stderr"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
}

// Error is the body of every non-2xx reply.
type Error struct {
	Error string `json:"error"`
}
