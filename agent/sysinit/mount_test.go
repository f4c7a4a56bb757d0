package sysinit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ramfarm/ramfarm/agent/internal/nstest"
	"golang.org/x/sys/unix"
)

func TestMountAllTwice(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	nstest.InPrivateMountNamespace(t, func() {
		if err := mountAll(root); err != nil {
			t.Errorf("first mountAll: %v", err)
		}
		wantTypes := map[string]int64{
			"/dev":           unix.TMPFS_MAGIC, // devtmpfs
			"/dev/pts":       unix.DEVPTS_SUPER_MAGIC,
			"/proc":          unix.PROC_SUPER_MAGIC,
			"/sys":           unix.SYSFS_MAGIC,
			"/sys/fs/cgroup": unix.CGROUP2_SUPER_MAGIC,
			"/tmp":           unix.TMPFS_MAGIC,
			"/run":           unix.TMPFS_MAGIC,
		}
		for dir, want := range wantTypes {
			var st unix.Statfs_t
			if err := unix.Statfs(filepath.Join(root, dir), &st); err != nil {
				t.Errorf("statfs %s: %v", dir, err)
			} else if st.Type != want {
				t.Errorf("%s has filesystem type %#x, want %#x", dir, st.Type, want)
			}
		}
		if _, err := os.Stat(filepath.Join(root, "dev/null")); err != nil {
			t.Errorf("devtmpfs is not populated: %v", err)
		}

		before := mountsUnder(t, root)
		if err := mountAll(root); err != nil {
			t.Errorf("second mountAll: %v", err)
		}
		if after := mountsUnder(t, root); after != before {
			t.Errorf("second mountAll changed the mounts under root from %d to %d; want no change", before, after)
		}
		if before != len(mounts) {
			t.Errorf("%d mounts under root, want %d", before, len(mounts))
		}
	})
}

// mountsUnder counts the mounts below root in this thread's namespace.
func mountsUnder(t *testing.T, root string) int {
	b, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		t.Errorf("reading mountinfo: %v", err)
	}
	n := 0
	for line := range strings.Lines(string(b)) {
		if fields := strings.Fields(line); len(fields) > 4 && strings.HasPrefix(fields[4], root+"/") {
			n++
		}
	}
	return n
}
