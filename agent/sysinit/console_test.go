package sysinit

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAttachConsole puts /dev/null on stdin, as the Go runtime does when
// init starts without a console, and checks that attachConsole replaces it
// with the console while leaving stdout and stderr alone.
func TestAttachConsole(t *testing.T) {
	saved, err := unix.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Dup3(saved, 0, 0)
		unix.Close(saved)
	})
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	if err := unix.Dup3(int(devNull.Fd()), 0, 0); err != nil {
		t.Fatal(err)
	}
	stdoutBefore := fileID(t, 1)

	console := filepath.Join(t.TempDir(), "console")
	if err := os.WriteFile(console, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := attachConsole(console); err != nil {
		t.Fatalf("attachConsole: %v", err)
	}

	var want unix.Stat_t
	if err := unix.Stat(console, &want); err != nil {
		t.Fatal(err)
	}
	if got := fileID(t, 0); got != [2]uint64{want.Dev, want.Ino} {
		t.Error("stdin is not the console after attachConsole")
	}
	if fileID(t, 1) != stdoutBefore {
		t.Error("attachConsole replaced a working stdout")
	}
}

func fileID(t *testing.T, fd int) [2]uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatalf("fstat %d: %v", fd, err)
	}
	return [2]uint64{st.Dev, st.Ino}
}
