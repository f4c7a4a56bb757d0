package agent

import (
	"fmt"
	"log/slog"
	"regexp"
	"strconv"

	"github.com/ramfarm/ramfarm/protocol"
)

// Settings a node takes from its kernel command line, and their defaults.
const (
	taskPidsParam      = "ramfarm.task_pids"      // pids.max of each task
	workspaceSizeParam = "ramfarm.workspace_size" // the workspace tmpfs's size
	profileParam       = "ramfarm.profile"        // the boot profile the dispatcher served
	prefetchParam      = "ramfarm.prefetch"       // tasks queued beyond the slots (Config.Prefetch)
	maxPrefetch        = 64
	defaultTaskPids    = 4096
	defaultWorkspaces  = "50%" // of RAM
)

// nodeTaskPids is the pids.max a task gets: ramfarm.task_pids= or the
// default.
func nodeTaskPids(boot map[string]string, log *slog.Logger) int {
	return intParam(boot, taskPidsParam, 1, 1<<22, defaultTaskPids, log)
}

// nodePrefetch is the agent's prefetch: ramfarm.prefetch= or none.
func nodePrefetch(boot map[string]string, log *slog.Logger) int {
	return intParam(boot, prefetchParam, 0, maxPrefetch, 0, log)
}

// intParam reads an integer setting within lo..hi, or def, with a warning
// if the value is not one.
func intParam(boot map[string]string, name string, lo, hi, def int, log *slog.Logger) int {
	s, ok := boot[name]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		log.Warn("ignoring invalid "+name, "value", s, "range", fmt.Sprintf("%d..%d", lo, hi), "default", def)
		return def
	}
	return n
}

var tmpfsSize = regexp.MustCompile(`^[0-9]+[kmgKMG%]?$`)

// nodeWorkspaceSize is the workspace tmpfs's size: ramfarm.workspace_size=
// or the default.
func nodeWorkspaceSize(boot map[string]string, log *slog.Logger) string {
	s, ok := boot[workspaceSizeParam]
	if !ok {
		return defaultWorkspaces
	}
	if !tmpfsSize.MatchString(s) || s == "0" {
		log.Warn("ignoring invalid "+workspaceSizeParam, "value", s, "default", defaultWorkspaces)
		return defaultWorkspaces
	}
	return s
}

// nodeProfile is the boot profile named by ramfarm.profile=, reported to the
// dispatcher in Hello. A name the protocol would refuse is dropped with a
// warning rather than sent: a dispatcher rejects such a Hello, and the
// node would never join.
func nodeProfile(boot map[string]string, log *slog.Logger) string {
	name := boot[profileParam]
	if name != "" && !protocol.ValidProfileName(name) {
		log.Warn("ignoring invalid "+profileParam, "value", name)
		return ""
	}
	return name
}
