package agent

import (
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ramfarm/ramfarm/agent/cmdline"
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

func TestNodeProfile(t *testing.T) {
	// The command line as the dispatcher's iPXE script writes it.
	boot := cmdline.Parse("initrd=ramfarm-node.cpio.zst console=ttyS0 ramfarm.dispatcher=10.77.0.1:7070 " +
		"ramfarm.token=abc ramfarm.profile=tools-v2 BOOTIF=01-52-54-00-77-00-01")
	if got := nodeProfile(boot, quietLog); got != "tools-v2" {
		t.Errorf("profile %q, want tools-v2", got)
	}
	for _, line := range []string{"console=ttyS0", `ramfarm.profile="two words"`, "ramfarm.profile=" + strings.Repeat("p", 65)} {
		if got := nodeProfile(cmdline.Parse(line), quietLog); got != "" {
			t.Errorf("%s: profile %q, want none: the dispatcher would refuse the Hello", line, got)
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
