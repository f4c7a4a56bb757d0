// Package nstest runs test code in namespaces of its own, so that what it
// mounts never reaches the host.
package nstest

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// InPrivateMountNamespace runs fn on a thread of its own in a new mount
// namespace, so that fn's mounts, and those of the processes it starts,
// never reach the host. The thread is locked and never unlocked: Go ends
// it when fn returns, and the namespace and its mounts go with it.
func InPrivateMountNamespace(t *testing.T, fn func()) {
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
