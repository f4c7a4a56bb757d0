package sysinit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

type mount struct {
	target, fstype string
	flags          uintptr
	data           string
	// optional mounts are for kernel features a node can do without;
	// failing to mount one is not an error.
	optional bool
}

// mounts are the filesystems of a diskless node, parents first.
var mounts = []mount{
	{target: "/dev", fstype: "devtmpfs", flags: unix.MS_NOSUID, data: "mode=0755"},
	{target: "/dev/pts", fstype: "devpts", flags: unix.MS_NOSUID | unix.MS_NOEXEC, data: "mode=0620,ptmxmode=0666"},
	{target: "/proc", fstype: "proc", flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	{target: "/sys", fstype: "sysfs", flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	{target: "/sys/fs/cgroup", fstype: "cgroup2", flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, optional: true},
	{target: "/tmp", fstype: "tmpfs", flags: unix.MS_NOSUID | unix.MS_NODEV, data: "mode=1777"},
	{target: "/run", fstype: "tmpfs", flags: unix.MS_NOSUID | unix.MS_NODEV, data: "mode=0755"},
}

// mountAll mounts every filesystem of mounts under root, skipping targets
// that already are mount points, so that running it twice is harmless.
// It carries on past failures and returns them all.
func mountAll(root string) error {
	var errs []error
	for _, m := range mounts {
		target := filepath.Join(root, m.target)
		if err := mountOnce(m, target); err != nil && !m.optional {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, target, err))
		}
	}
	return errors.Join(errs...)
}

func mountOnce(m mount, target string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if isMountPoint(target) {
		return nil
	}
	err := unix.Mount(m.fstype, target, m.fstype, m.flags, m.data)
	if errors.Is(err, unix.EBUSY) { // mounted since isMountPoint looked
		return nil
	}
	return err
}

// isMountPoint reports whether dir is on another filesystem than its
// parent. It needs no /proc, which may not be mounted yet.
func isMountPoint(dir string) bool {
	var self, parent unix.Stat_t
	if unix.Stat(dir, &self) != nil || unix.Stat(filepath.Join(dir, ".."), &parent) != nil {
		return false
	}
	return self.Dev != parent.Dev
}
