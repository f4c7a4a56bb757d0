package sysinit

import (
	"os"

	"golang.org/x/sys/unix"
)

// Reboot syncs filesystems and restarts the machine at once. It returns
// only on failure. Any root process may call it, not only PID 1.
func Reboot() error {
	return shutdown(unix.LINUX_REBOOT_CMD_RESTART)
}

// PowerOff syncs filesystems and powers the machine off at once. It
// returns only on failure.
func PowerOff() error {
	return shutdown(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

func shutdown(cmd int) error {
	unix.Sync()
	return os.NewSyscallError("reboot", unix.Reboot(cmd))
}
