package agent

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// nodeWorkspaces is where a node keeps task workspaces.
const nodeWorkspaces = "/tmp/ramfarm-tasks"

// mountWorkspaces mounts a tmpfs of at most size at dir for task
// workspaces, so that a task filling its workspace gets ENOSPC instead of
// the node's RAM: a node has no disk, and tmpfs pages are memory. size is
// tmpfs syntax: bytes with an optional k, m or g suffix, or a share of
// RAM such as "50%". The pages are also charged to the cgroup of the task
// that wrote them, so they count against its memory limits as well.
//
// A tmpfs already at dir is what a previous agent, which crashed and was
// restarted, left: it is detached with the workspaces in it, and a fresh
// one is mounted.
func mountWorkspaces(dir, size string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return os.NewSyscallError("umount "+dir, err)
	}
	err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size="+size)
	return os.NewSyscallError("mount tmpfs on "+dir, err)
}
