package agent

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ramfarm/ramfarm/protocol"
	"golang.org/x/sys/unix"
)

func TestWorkspacesAreCapped(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join(t.TempDir(), "tasks")
	inPrivateMountNamespace(t, func() {
		if err := mountWorkspaces(dir, "1m"); err != nil {
			t.Fatalf("mountWorkspaces: %v", err)
		}
		var fs unix.Statfs_t
		if err := unix.Statfs(dir, &fs); err != nil || fs.Type != unix.TMPFS_MAGIC || fs.Blocks*uint64(fs.Bsize) != 1<<20 {
			t.Fatalf("%s: type %#x, %d bytes (%v), want a 1 MiB tmpfs", dir, fs.Type, fs.Blocks*uint64(fs.Bsize), err)
		}
		// The task runs from this thread, so in this mount namespace.
		task := &protocol.Task{TaskRef: protocol.TaskRef{ID: 1, Attempt: 1}, Command: "head -c 2000000 /dev/zero > big"}
		res := runner{workDir: dir}.run(context.Background(), task, Limits{})
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

// inPrivateMountNamespace runs fn on a thread of its own in a new mount
// namespace, so that fn's mounts, and those of the tasks it starts, never
// reach the host. The thread stays locked: Go ends it when fn returns.
func inPrivateMountNamespace(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			t.Errorf("unshare(CLONE_NEWNS): %v", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Errorf("making / private: %v", err)
			return
		}
		fn()
	}()
	<-done
}
