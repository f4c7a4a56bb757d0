// Package dispatcher is the dispatcher: it boots nodes (through pxe), keeps
// the node registry, queues tasks durably and hands them out to agents that
// ask for work, and serves the control API the console uses.
package dispatcher

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/ramfarm/ramfarm/pxe"
)

// Config is everything the dispatcher needs to run.
type Config struct {
	// StateDir holds the database (ramfarm.db) and the node enrollment
	// token (node-token) generated on first start.
	StateDir string
	// APISocket is the Unix socket of the control API (mode 0600).
	APISocket string
	// AgentAddr is where agents connect (host:port). An empty host means
	// the boot interface's address when PXE is on.
	AgentAddr string
	// Heartbeat is the period at which agents report; a node is lost after
	// three missed periods.
	Heartbeat time.Duration
	// MetricsAddr is where Prometheus metrics are served (host:port);
	// empty serves none.
	MetricsAddr string
	// Window is the number of tasks in the circular task list.
	Window int
	// MaxQueued bounds the tasks waiting for a result; a submission that
	// would pass it is refused (backpressure) until the queue drains.
	// Zero means DefaultMaxQueued.
	MaxQueued int
	// PXE configures the boot services; nil runs without them (agents
	// started by other means, as in tests and benchmarks).
	PXE *pxe.Config
	// Logger receives structured logs.
	Logger *slog.Logger
}

// DefaultMaxQueued is the default queue bound. A queued task costs the
// dispatcher about 50 bytes of memory (its id in the backlog; the command
// stays on disk, and at most specCacheBytes of commands are kept in memory
// as well), so ten million queued tasks are well under a gigabyte.
const DefaultMaxQueued = 10_000_000

const (
	defaultHeartbeat = 5 * time.Second
	// lostAfter is how many heartbeat periods of silence make a node lost:
	// the lease of 3x the reporting period from the thesis in seeds/003.
	lostAfter = 3
)

func (c *Config) validate() error {
	var errs []error
	if c.StateDir == "" {
		errs = append(errs, errors.New("state directory not set"))
	}
	if c.APISocket == "" {
		c.APISocket = filepath.Join(c.StateDir, "api.sock")
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = defaultHeartbeat
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = DefaultMaxQueued
	}
	host, port, err := net.SplitHostPort(c.AgentAddr)
	if err != nil {
		errs = append(errs, fmt.Errorf("agent address %q: %v", c.AgentAddr, err))
	} else if host == "" && c.PXE != nil {
		c.AgentAddr = net.JoinHostPort(c.PXE.ServerIP.String(), port)
	}
	if c.PXE != nil {
		if err := c.PXE.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("boot services: %w", err))
		}
	}
	return errors.Join(errs...)
}
