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

// KexecReboot syncs filesystems and starts the kernel loaded with
// kexec_file_load(2), without going through the firmware. It returns only
// on failure, for instance when no kernel is loaded.
func KexecReboot() error {
	return shutdown(unix.LINUX_REBOOT_CMD_KEXEC)
}

func shutdown(cmd int) error {
	unix.Sync()
	return os.NewSyscallError("reboot", unix.Reboot(cmd))
}
