package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ramfarm/ramfarm/agent/internal/nstest"
	"github.com/ramfarm/ramfarm/protocol"
	"golang.org/x/sys/unix"
)

func TestWorkspacesAreCapped(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join(t.TempDir(), "tasks")
	nstest.InPrivateMountNamespace(t, func() {
		if err := mountWorkspaces(dir, "1m"); err != nil {
			t.Fatalf("mountWorkspaces: %v", err)
		}
		var fs unix.Statfs_t
		if err := unix.Statfs(dir, &fs); err != nil || fs.Type != unix.TMPFS_MAGIC || fs.Blocks*uint64(fs.Bsize) != 1<<20 {
			t.Fatalf("%s: type %#x, %d bytes (%v), want a 1 MiB tmpfs", dir, fs.Type, fs.Blocks*uint64(fs.Bsize), err)
		}
		// The task runs from this thread, so in this mount namespace.
		task := &protocol.Task{TaskRef: protocol.TaskRef{ID: 1, Attempt: 1}, Command: "head -c 2000000 /dev/zero > big"}
		res := runner{workDir: dir}.run(context.Background(), task)
		if res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "No space left on device") {
			t.Errorf("filling the workspace: exit %d, stderr %q, want ENOSPC", res.ExitCode, res.Stderr)
		}

		// A restarted agent starts from a fresh tmpfs.
		if err := os.WriteFile(filepath.Join(dir, "left-by-a-crashed-agent"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := mountWorkspaces(dir, "2m"); err != nil {
			t.Fatalf("mountWorkspaces again: %v", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("workspaces after a remount: %v, want none", entries)
		}
	})
}
