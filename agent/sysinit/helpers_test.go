package sysinit

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts filesystems and creates namespaces: run it as root")
	}
}

// inPrivateMountNamespace runs fn on a thread of its own in a new mount
// namespace, so that fn's mounts never reach the host. The thread is
// locked and never unlocked: Go ends it when fn returns, and the namespace
// and its mounts go with it.
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
