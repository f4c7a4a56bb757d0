package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ramfarm/ramfarm/initramfs"
)

// ImageConfig is the node image benchmark: the minimal image built for a
// kernel, booted straight into QEMU (TCG, one vCPU, 512 MiB, virtio-net)
// against the real dispatcher, measured from inside the node.
type ImageConfig struct {
	Ramfarm      string // the dispatcher binary
	RepoDir      string // the ramfarm repository: profiles, agent source
	CustomKernel string // the custom kernel's bzImage
	WorkDir      string
	Idle         time.Duration // the idle window for the agent's CPU; default 30 s
	Heartbeat    time.Duration // the dispatcher's heartbeat period; default its default, 5 s
}

// ImageResult is one kernel's figures.
type ImageResult struct {
	Kernel       initramfs.Kernel
	KernelBytes  int64
	InitrdBytes  int64      // the minimal profile's initramfs, compressed
	RegisteredAt float64    // guest uptime, s, when the agent logged its registration
	Phases       BootPhases // where the time to RegisteredAt went
	// RegisteredAtICount is RegisteredAt of another boot whose clock
	// counts guest instructions (ImageBootConfig.ICount): the same on a
	// busy host as on a quiet one.
	RegisteredAtICount float64
	AgentRSS           int64   // bytes: PID 1 and the agent child, after the idle window
	AgentIdleCPU       float64 // percent of one CPU, both processes, over the idle window
	IdleWindow         float64 // s, as the guest measured it
	HeartbeatEvery     time.Duration
}

// Image measures the minimal image with kernel.
func Image(ctx context.Context, cfg ImageConfig, kernel initramfs.Kernel) (ImageResult, error) {
	if err := requireRoot(); err != nil {
		return ImageResult{}, err
	}
	if cfg.Idle == 0 {
		cfg.Idle = 30 * time.Second
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 5 * time.Second
	}
	res := ImageResult{Kernel: kernel, HeartbeatEvery: cfg.Heartbeat}
	dir, err := os.MkdirTemp(cfg.WorkDir, "image-"+string(kernel)+"-")
	if err != nil {
		return res, err
	}
	m, err := initramfs.Build(initramfs.Config{
		OutDir: filepath.Join(dir, "images"), RepoDir: cfg.RepoDir, Kernel: kernel, CustomKernel: cfg.CustomKernel,
		Profiles: []string{initramfs.DefaultProfile},
	})
	if err != nil {
		return res, fmt.Errorf("building the %s image: %w", kernel, err)
	}
	for _, a := range m.Artifacts {
		switch a.Role {
		case "kernel":
			res.KernelBytes = a.Size
		case "initrd":
			res.InitrdBytes = a.Size
		}
	}

	images := filepath.Join(dir, "images")
	boot := func(name, workDir string, icount bool) (*ImageBoot, error) {
		return BootImage(ctx, ImageBootConfig{
			Name: fmt.Sprintf("rfbimg%d%s%s", os.Getpid()%100000, string(kernel)[:1], name), Ramfarm: cfg.Ramfarm,
			ImagesDir: images, WorkDir: workDir, Heartbeat: cfg.Heartbeat, ICount: icount,
			KernelArgs: ImageKernelArgs,
			Kernel:     filepath.Join(images, initramfs.KernelName), Initrd: filepath.Join(images, initramfs.InitrdName),
		})
	}
	if res.RegisteredAtICount, err = registeredUptimeOf(boot("i", filepath.Join(dir, "icount"), true)); err != nil {
		return res, fmt.Errorf("instruction-counted boot: %w", err)
	}
	b, err := boot("", dir, false)
	if b != nil {
		defer b.Close()
	}
	if err != nil {
		if b != nil {
			err = fmt.Errorf("%w; serial console:\n%s", err, b.Serial())
		}
		return res, err
	}
	if res.RegisteredAt, err = b.RegisteredUptime(); err != nil {
		return res, err
	}
	if res.Phases, err = b.BootPhases(ctx); err != nil {
		return res, err
	}

	task, err := b.RunTask(ctx, agentUsageScript(cfg.Idle), cfg.Idle+time.Minute)
	if err != nil {
		return res, err
	}
	if task.Result == nil || task.Result.ExitCode != 0 {
		return res, fmt.Errorf("measuring task failed: %+v", task.Result)
	}
	before, after, err := parseAgentUsage(task.Result.Stdout)
	if err != nil {
		return res, err
	}
	res.IdleWindow = after.uptime - before.uptime
	res.AgentRSS = after.rssBytes
	res.AgentIdleCPU = float64(after.ticks-before.ticks) / userHZ / res.IdleWindow * 100
	return res, nil
}

// ImageKernelArgs is the command line the image benchmark boots: the
// dispatcher's default --cmdline, "console=ttyS0 console=tty0 quiet", less
// tty0 (the last console= becomes /dev/console, and the agent's
// registration line must reach the serial port), plus QEMUKernelArgs, as
// docs/boot-profiles.example's profile qemu. quiet matters under TCG:
// without it the kernel spends about 0.25 s writing its boot messages to
// the emulated UART.
const ImageKernelArgs = "console=ttyS0 quiet " + QEMUKernelArgs

// QEMUKernelArgs are for QEMU's default machine (i440FX, SeaBIOS) only,
// never for bare metal:
//
//   - acpi=noirq routes PCI interrupts by the BIOS's PIRQ table, not by
//     ACPI's _PRT. QEMU's i440FX firmware computes _PRT with a 128-turn
//     AML loop, and Linux evaluates it for each PCI device it enables:
//     about 90 million guest instructions, 0.13-0.15 s under TCG, per
//     device (virtio-net and virtio-rng here). Real firmware has a static
//     _PRT, and UEFI servers have no PIRQ table to fall back on.
//   - no_timer_check skips the test of the timer interrupt's routing
//     through the IO-APIC, as Linux does by itself under KVM (25 million
//     guest instructions of waiting).
const QEMUKernelArgs = "acpi=noirq no_timer_check"

// registeredUptimeOf is the RegisteredUptime of a boot that has nothing
// else to measure; it powers the node off.
func registeredUptimeOf(b *ImageBoot, err error) (float64, error) {
	if b == nil {
		return 0, err
	}
	defer b.Close()
	if err != nil {
		return 0, fmt.Errorf("%w; serial console:\n%s", err, b.Serial())
	}
	return b.RegisteredUptime()
}

// userHZ is the unit of the CPU times in /proc/PID/stat on Linux x86.
const userHZ = 100

// agentUsageScript is a task that samples PID 1 and the agent child (the
// parent of the task's shell), sleeps through the idle window, and samples
// again. While it sleeps the agent has nothing to do but heartbeat and wait
// for the task: that is its idle cost. Only the two processes' own CPU
// time counts (utime and stime, not their children's).
func agentUsageScript(idle time.Duration) string {
	return fmt.Sprintf(`sample() {
  read up rest < /proc/uptime
  echo "uptime $up"
  for p in 1 $PPID; do
    echo "stat $p $(cat /proc/$p/stat)"
    echo "rss $p $(grep VmRSS /proc/$p/status)"
  done
}
sample; sleep %d; sample`, int(idle.Seconds()))
}

// agentSample is one sample of agentUsageScript's output.
type agentSample struct {
	uptime   float64
	ticks    int64 // utime+stime of both processes
	rssBytes int64 // VmRSS of both processes
}

// parseAgentUsage reads the two samples agentUsageScript prints.
func parseAgentUsage(out string) (before, after agentSample, err error) {
	var samples []agentSample
	s := bufio.NewScanner(strings.NewReader(out))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "uptime" && len(f) == 2:
			up, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return before, after, fmt.Errorf("uptime line %q: %w", s.Text(), err)
			}
			samples = append(samples, agentSample{uptime: up})
		case f[0] == "stat" && len(samples) > 0:
			ticks, err := statTicks(strings.Join(f[2:], " "))
			if err != nil {
				return before, after, err
			}
			samples[len(samples)-1].ticks += ticks
		case f[0] == "rss" && len(f) == 5 && f[2] == "VmRSS:" && f[4] == "kB" && len(samples) > 0:
			kb, err := strconv.ParseInt(f[3], 10, 64)
			if err != nil {
				return before, after, fmt.Errorf("rss line %q: %w", s.Text(), err)
			}
			samples[len(samples)-1].rssBytes += kb * 1024
		default:
			return before, after, fmt.Errorf("unexpected line %q in:\n%s", s.Text(), out)
		}
	}
	if len(samples) != 2 || samples[1].uptime <= samples[0].uptime {
		return before, after, fmt.Errorf("want two samples in order, got %+v from:\n%s", samples, out)
	}
	return samples[0], samples[1], nil
}

// statTicks returns utime+stime from a /proc/PID/stat line. The command
// name, in parentheses, may hold spaces: count fields after its last ")".
func statTicks(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat line %q has no command name", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat line %q is too short", stat)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat line %q: bad utime or stime", stat)
	}
	return utime + stime, nil
}
