package agent

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/u-root/mkuimage/cpio"
	"golang.org/x/sys/unix"
)

// Some tests need a kernel whose cgroup2 has the memory, pids and cpu
// controllers. A host in cgroup v1 or hybrid mode (controllers bound to
// v1 hierarchies, as on this project's CI machines) cannot give them to
// cgroup2, not even in a new mount namespace: a controller belongs to one
// hierarchy per kernel. Such tests then run in a test guest: a QEMU
// machine booting the host's kernel with an initramfs of this test
// binary, its shared libraries and a static busybox for the tasks' /bin/sh.
// In the guest, PID 1 (guestInit) mounts a cgroup2 that has every
// controller, runs the tests as its child and reaps orphans like the
// node's init does. The guest has no disk and no network: nothing a test
// does there can reach the host.

// guestEnv tells the test binary its part in the guest: "init" for PID 1,
// "tests" for the child running the tests.
const guestEnv = "RAMFARM_TEST_GUEST"

// guestExitMarker precedes the tests' exit status on the serial console.
const guestExitMarker = "ramfarm-guest-tests-exit="

const (
	guestMemoryMB = 512
	guestTimeout  = 10 * time.Minute // emulated (TCG), on a loaded 2-core CI machine
)

func TestMain(m *testing.M) {
	if os.Getenv(guestEnv) == "init" && os.Getpid() == 1 {
		guestInit() // never returns
	}
	os.Exit(m.Run())
}

func inGuest() bool { return os.Getenv(guestEnv) == "tests" }

// runInGuest runs the tests matching pattern in a test guest and fails t
// if any of them fails or none ran.
func runInGuest(t *testing.T, pattern string) {
	t.Helper()
	if inGuest() {
		t.Fatal("the test guest cannot start another guest: its cgroup2 lacks controllers")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Fatal("this test needs a cgroup2 with the memory, pids and cpu controllers; the host has none, and without qemu-system-x86_64 (apt-get install qemu-system-x86) it cannot boot a test guest that has them")
	}
	kernel := guestKernel(t)
	initrd := filepath.Join(t.TempDir(), "initrd.cpio")
	writeGuestInitrd(t, initrd)

	ctx, cancel := context.WithTimeout(t.Context(), guestTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu,
		"-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", strconv.Itoa(guestMemoryMB),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-kernel", kernel, "-initrd", initrd,
		// Words with "=" before "--" become init's environment, the rest its arguments.
		"-append", fmt.Sprintf("console=ttyS0 quiet panic=-1 %s=init -- -test.run=%s -test.v -test.timeout=%s",
			guestEnv, pattern, guestTimeout),
		"-serial", "stdio")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exit := ""
	var passed []string
	s := bufio.NewScanner(out)
	for s.Scan() {
		line := strings.TrimRight(s.Text(), "\r")
		t.Log("guest: " + line)
		if i := strings.Index(line, guestExitMarker); i >= 0 {
			exit = line[i+len(guestExitMarker):]
		}
		if m := regexp.MustCompile(`^--- PASS: (\S+)`).FindStringSubmatch(line); m != nil {
			passed = append(passed, m[1])
		}
	}
	waitErr := cmd.Wait()
	switch {
	case exit == "":
		t.Fatalf("the test guest ended without reporting (qemu: %v)", waitErr)
	case exit != "0":
		t.Fatalf("tests in the guest failed (exit status %s)", exit)
	case len(passed) == 0:
		t.Fatalf("no test matching %s ran in the guest", pattern)
	}
}

// guestKernel is the newest kernel in /boot.
func guestKernel(t *testing.T) string {
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(kernels) == 0 {
		t.Fatal("no kernel in /boot for the test guest (apt-get install linux-image-amd64)")
	}
	slices.Sort(kernels)
	return kernels[len(kernels)-1]
}

// writeGuestInitrd writes a newc archive with this test binary as /init,
// the shared libraries it needs at their paths, and busybox.
func writeGuestInitrd(t *testing.T, path string) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil || !isStatic(busybox) {
		t.Fatal("the test guest needs a static busybox for the tasks' /bin/sh (apt-get install busybox-static)")
	}
	files := map[string]string{"init": self, "bin/busybox": busybox}
	for _, lib := range sharedLibraries(t, self) {
		files[strings.TrimPrefix(lib, "/")] = lib
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := cpio.NewDedupWriter(cpio.Newc.Writer(f))
	records := []cpio.Record{
		cpio.Directory("proc", 0o755), cpio.Directory("sys", 0o755), cpio.Directory("tmp", 0o1777),
		// The kernel opens /dev/console for init before devtmpfs is mounted.
		cpio.CharDev("dev/console", 0o600, 5, 1), cpio.CharDev("dev/null", 0o666, 1, 3),
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		src, err := os.Open(files[name])
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		st, err := src.Stat()
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, cpio.Record{ReaderAt: src, Info: cpio.Info{
			Name: name, Mode: cpio.S_IFREG | 0o755, FileSize: uint64(st.Size()),
		}})
	}
	if err := cpio.WriteRecordsAndDirs(w, records); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
}

// isStatic reports whether the ELF binary at path needs no loader.
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return !slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
}

// sharedLibraries lists the loader and libraries bin needs, as ldd
// resolves them (a test binary links libc when cgo is on, as with -race).
func sharedLibraries(t *testing.T, bin string) []string {
	if isStatic(bin) {
		return nil
	}
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", bin, err)
	}
	var libs []string
	for line := range strings.Lines(string(out)) {
		// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
		// "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no file.
		for f := range strings.FieldsSeq(line) {
			if strings.HasPrefix(f, "/") {
				libs = append(libs, f)
			}
		}
	}
	return libs
}

// guestInit is PID 1 of the test guest: it mounts what the tests need,
// runs them as its child, reaps every orphan meanwhile, reports the
// tests' exit status and powers the guest off.
func guestInit() {
	fail := func(what string, err error) {
		fmt.Printf("guest init: %s: %v\n%s2\n", what, err, guestExitMarker)
		unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	}
	for _, m := range []struct{ fstype, target string }{
		{"proc", "/proc"}, {"sysfs", "/sys"}, {"devtmpfs", "/dev"},
		{"cgroup2", "/sys/fs/cgroup"}, {"tmpfs", "/tmp"},
	} {
		if err := unix.Mount(m.fstype, m.target, m.fstype, 0, ""); err != nil {
			fail("mount "+m.target, err)
		}
	}
	for _, args := range [][]string{{"--install", "-s", "/bin"}, {"ip", "link", "set", "lo", "up"}} {
		if out, err := exec.Command("/bin/busybox", args...).CombinedOutput(); err != nil {
			fail(fmt.Sprintf("busybox %v: %s", args, out), err)
		}
	}
	// os.StartProcess passes env as it is, and Getenv reads the first of
	// two settings: drop this process's own.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, guestEnv+"=") })
	child, err := os.StartProcess("/proc/self/exe", os.Args, &os.ProcAttr{
		Env:   append(env, guestEnv+"=tests"),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	})
	if err != nil {
		fail("starting the tests", err)
	}
	for {
		var status unix.WaitStatus
		pid, err := unix.Wait4(-1, &status, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			fail("wait", err)
		}
		if pid == child.Pid {
			code := status.ExitStatus()
			if status.Signaled() {
				code = 128 + int(status.Signal())
			}
			fmt.Printf("%s%d\n", guestExitMarker, code)
			unix.Sync()
			unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
		}
	}
}
