package sysinit

import (
	"os"

	"golang.org/x/sys/unix"
)

// attachConsole points stdin, stdout and stderr at the console where they
// are missing. The kernel opens /dev/console for init, but only if the
// initramfs has that node; if not, init starts without them and the Go
// runtime fills them with /dev/null (or, lacking /dev/null too, dies
// before main). So /dev/null on fds 0-2 here means "no console".
func attachConsole(console string) error {
	var missing []int
	for fd := range 3 {
		if isDevNull(fd) {
			missing = append(missing, fd)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	f, err := os.OpenFile(console, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, fd := range missing {
		if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
			return os.NewSyscallError("dup3", err)
		}
	}
	return nil
}

func isDevNull(fd int) bool {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return true // closed: as good as /dev/null
	}
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == unix.Mkdev(1, 3)
}
