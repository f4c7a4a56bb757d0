package agent

import (
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestNodeSettings(t *testing.T) {
	for boot, want := range map[string]int{"": 4096, "128": 128, "0": 4096, "-5": 4096, "lots": 4096} {
		params := map[string]string{}
		if boot != "" {
			params[taskPidsParam] = boot
		}
		if got := nodeTaskPids(params, quietLog); got != want {
			t.Errorf("%s=%q: %d task pids, want %d", taskPidsParam, boot, got, want)
		}
	}
	for boot, want := range map[string]string{"": "50%", "25%": "25%", "2g": "2g", "512M": "512M", "1048576": "1048576", "0": "50%", "2 g": "50%", "1t": "50%"} {
		params := map[string]string{}
		if boot != "" {
			params[workspaceSizeParam] = boot
		}
		if got := nodeWorkspaceSize(params, quietLog); got != want {
			t.Errorf("%s=%q: workspace size %q, want %q", workspaceSizeParam, boot, got, want)
		}
	}
}

func TestTasksMemoryLeavesTheAgentAReserve(t *testing.T) {
	const gib = 1 << 30
	for total, want := range map[uint64]uint64{
		16 * gib:  16*gib - 16*gib/10, // a tenth
		512 * mib: 448 * mib,          // at least 64 MiB
		100 * mib: 50 * mib,           // at most half
		0:         0,                  // unknown: no limit
	} {
		if got := tasksMemory(total); got != want {
			t.Errorf("tasksMemory(%d) = %d, want %d", total, got, want)
		}
	}
}

func TestTaskCgroupsNeedCgroup2(t *testing.T) {
	_, err := setupTaskCgroups(filepath.Join(t.TempDir(), "ramfarm"), testPids, 0)
	if err == nil || !strings.Contains(err.Error(), "not in a cgroup2 filesystem") {
		t.Fatalf("setup outside cgroup2: %v, want an error", err)
	}
	if c := startTaskCgroups(filepath.Join(t.TempDir(), "ramfarm"), testPids, quietLog); c != nil {
		t.Fatal("startTaskCgroups outside cgroup2 returned cgroups")
	}
}
