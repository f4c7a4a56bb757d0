package qemutests

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/initramfs"
	"github.com/u-root/uio/llog"
)

// maxKernelBytes is the custom kernel's size budget (kernel-config/build.sh
// enforces the same).
const maxKernelBytes = 3_000_000

// TestCustomKernel checks the node kernel that `make kernel` builds: it fits
// its size budget, and it boots the image that `ramfarm-mkimage -kernel
// custom` builds to a running agent, as PID 1, with no module to load, under
// TCG. The machine has no NIC: this is about the kernel and the agent's
// start, not the network (the end-to-end test covers that).
func TestCustomKernel(t *testing.T) {
	kernel, err := filepath.Abs(filepath.Join("..", initramfs.CustomKernelPath))
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(kernel)
	if err != nil {
		t.Fatalf("custom kernel missing (%v): run `make kernel` first", err)
	}
	if info.Size() > maxKernelBytes {
		t.Errorf("%s is %d bytes, over the %d byte budget", kernel, info.Size(), maxKernelBytes)
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Fatal("qemu-system-x86_64 not found: run `make deps`")
	}

	images := t.TempDir()
	m, err := initramfs.Build(initramfs.Config{
		OutDir: images, RepoDir: "..", Kernel: initramfs.KernelCustom, CustomKernel: kernel, Log: llog.Test(t),
	})
	if err != nil {
		t.Fatalf("building the image for the custom kernel: %v", err)
	}

	boot := bootDirect(t, filepath.Join(images, initramfs.KernelName), filepath.Join(images, initramfs.InitrdName),
		// The agent's first network attempt, which fails for want of a
		// NIC: it got past mounting, drivers and its own start.
		`msg="network not up yet"`)

	for _, words := range [][]string{
		{"Linux version " + m.KernelRelease + " "},
		{"Run /init as init process"},
		{`msg="agent started"`, "pid=1 "},
		{`msg="drivers loaded"`, `modules=""`},
	} {
		if !logHasLine(boot.log, words...) {
			t.Errorf("serial console has no line with %q", words)
		}
	}
	for _, bad := range []string{
		"Kernel panic",
		"Oops",
		"BUG:",
		"WARNING: CPU:",
		"unable to open an initial console",
		`msg="mounting filesystems"`, // sysinit could not mount /dev, /proc, /sys, /tmp or /run
		`msg="attaching the console"`,
		`msg="bringing up lo"`,
	} {
		if strings.Contains(boot.log, bad) {
			t.Errorf("serial console has %q", bad)
		}
	}
	if t.Failed() {
		t.Logf("serial console:\n%s", tail(boot.log, 80))
		return
	}
	fmt.Printf("kernel: %s, bzImage %d bytes; guest uptime at Run /init %.2f s, agent started %.2f s\n",
		m.KernelRelease, info.Size(), boot.uptime("Run /init as init process"), boot.uptime(`msg="agent started"`))
}

// directBoot is the serial console of a machine booted with -kernel and
// -initrd, each line with the time since QEMU started that it arrived at.
type directBoot struct {
	log   string
	lines []timedLine
}

type timedLine struct {
	at   time.Duration
	text string
}

// bootDirect boots kernel and initrd in QEMU (TCG, one CPU, 512 MiB, no NIC)
// until a console line contains until, and returns the console. It fails
// the test if that takes more than 45 s or QEMU exits first.
func bootDirect(t *testing.T, kernel, initrd, until string) *directBoot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64",
		"-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "512",
		"-display", "none", "-monitor", "none", "-serial", "stdio",
		"-nic", "none", "-no-reboot",
		"-kernel", kernel, "-initrd", initrd,
		// A well-formed CA pin, or the agent stops before the network;
		// no dispatcher is ever reached, so which CA does not matter.
		"-append", "console=ttyS0 panic=-1 ramfarm.ca=sha256:"+strings.Repeat("0", 64))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()

	b := &directBoot{}
	var all strings.Builder
	s := bufio.NewScanner(out)
	for s.Scan() {
		line := strings.TrimRight(s.Text(), "\r")
		b.lines = append(b.lines, timedLine{time.Since(start), line})
		all.WriteString(line + "\n")
		if strings.Contains(line, until) {
			b.log = all.String()
			return b
		}
	}
	b.log = all.String()
	t.Fatalf("no console line with %q (QEMU: %v %s; context: %v); serial console:\n%s",
		until, s.Err(), strings.TrimSpace(stderr.String()), ctx.Err(), tail(b.log, 80))
	return nil
}

var printkTime = regexp.MustCompile(`^\[\s*(\d+\.\d+)\]`)

// uptime estimates the guest uptime at which the first line containing
// marker was printed: its arrival time, less the offset between arrival
// times and kernel timestamps measured on the "Run /init" line. Under TCG
// the serial console is synchronous, so this is good to a few milliseconds.
// It returns -1 if either line is missing.
func (b *directBoot) uptime(marker string) float64 {
	offset, found := 0.0, false
	for _, l := range b.lines {
		if m := printkTime.FindStringSubmatch(l.text); m != nil && strings.Contains(l.text, "Run /init") {
			ts, _ := strconv.ParseFloat(m[1], 64)
			offset, found = l.at.Seconds()-ts, true
			break
		}
	}
	for _, l := range b.lines {
		if found && strings.Contains(l.text, marker) {
			return l.at.Seconds() - offset
		}
	}
	return -1
}
