package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/dispatcher/console"
	"github.com/ramfarm/ramfarm/qemu-tests/cluster"
)

// ImageBoot is one node booted straight into an image: a cluster (network
// namespace, bridge, the real dispatcher serving DHCP and taking agents)
// with one QEMU guest that loads the kernel and initramfs itself (-kernel,
// -initrd), so what is measured and tested is the image, not firmware or
// PXE.
type ImageBoot struct {
	Cluster   *cluster.Cluster
	Node      api.Node // the registered node
	serialLog string
	qemu      *exec.Cmd
	exited    chan struct{}
}

// ImageBootConfig describes the node and where it runs.
type ImageBootConfig struct {
	Name           string // cluster name: namespace prefix, unique per run
	Ramfarm        string // the dispatcher binary
	ImagesDir      string // served over PXE (unused by this node, but the dispatcher wants it)
	WorkDir        string
	Kernel, Initrd string        // files the node boots
	KernelArgs     string        // kernel command line before the token; default "console=ttyS0 panic=-1"
	NIC            string        // QEMU NIC model; default virtio-net-pci
	MemoryMB       int           // default 512
	Heartbeat      time.Duration // dispatcher's heartbeat period; default its own default, 5 s
	Timeout        time.Duration // until the agent registers; default 5 min (TCG on a busy host)
	// ICount makes the guest's clock count its instructions, 1 ns each
	// (-icount shift=0), instead of following the host's: its uptimes
	// then measure the guest's work, whatever else the host runs, but
	// leave out what TCG spends translating code the first time it runs.
	ICount bool
}

// BootImage starts the cluster and the node and waits until its agent is
// registered and ready. When it returns a boot, Close it, also with an
// error (the node never registered: its Serial console says why).
func BootImage(ctx context.Context, cfg ImageBootConfig) (*ImageBoot, error) {
	if cfg.NIC == "" {
		cfg.NIC = "virtio-net-pci"
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 512
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 5 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.KernelArgs == "" {
		cfg.KernelArgs = "console=ttyS0 panic=-1"
	}
	c, err := cluster.Start(ctx, cluster.Config{
		Name: cfg.Name, RamfarmBin: cfg.Ramfarm, ImagesDir: cfg.ImagesDir, WorkDir: cfg.WorkDir,
		Nodes: []cluster.NodeSpec{{}}, Heartbeat: cfg.Heartbeat,
	})
	if err != nil {
		return nil, err
	}
	b := &ImageBoot{Cluster: c, serialLog: filepath.Join(cfg.WorkDir, "direct-serial.log")}
	// cluster.Start keeps the dispatcher's state in WorkDir/state, where
	// the dispatcher writes the arguments a node booted by other means
	// needs (its address, CA pin and token): what its boot script adds.
	nodeArgs, err := os.ReadFile(filepath.Join(cfg.WorkDir, "state", "node-args"))
	if err != nil {
		return nil, errors.Join(err, b.Close())
	}
	cmdline := cfg.KernelArgs + " " + strings.TrimSpace(string(nodeArgs))
	if err := b.startQEMU(cfg, cluster.MAC(0), cmdline); err != nil {
		return nil, errors.Join(err, b.Close())
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	b.Node, err = c.WaitReady(wctx, 0, "")
	return b, err
}

// startQEMU runs the guest inside the cluster's namespace, on its first tap
// (cluster.Start names the namespace cfg.Name and the taps tap0, tap1, ...).
func (b *ImageBoot) startQEMU(cfg ImageBootConfig, mac net.HardwareAddr, cmdline string) error {
	args := []string{"netns", "exec", cfg.Name, "qemu-system-x86_64",
		"-name", cfg.Name + "/direct", // vm.Leftovers finds it by namespace
		"-no-user-config", "-nodefaults", "-nographic", "-vga", "none",
		"-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", strconv.Itoa(cfg.MemoryMB),
		"-kernel", cfg.Kernel, "-initrd", cfg.Initrd, "-append", cmdline,
		"-netdev", "tap,id=net0,ifname=tap0,script=no,downscript=no",
		"-device", cfg.NIC + ",netdev=net0,mac=" + mac.String(),
		"-device", "virtio-rng-pci",
		"-serial", "file:" + b.serialLog,
		"-no-reboot",
	}
	if cfg.ICount {
		args = append(args, "-icount", "shift=0")
	}
	b.qemu = exec.Command("ip", args...)
	var stderr strings.Builder
	b.qemu.Stderr = &stderr
	b.qemu.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := b.qemu.Start(); err != nil {
		return err
	}
	b.exited = make(chan struct{})
	go func() {
		b.qemu.Wait()
		close(b.exited)
	}()
	select {
	case <-b.exited:
		return fmt.Errorf("QEMU exited at once: %s", stderr.String())
	case <-time.After(200 * time.Millisecond):
		return nil
	}
}

// Serial returns the node's serial console so far.
func (b *ImageBoot) Serial() string {
	s, err := os.ReadFile(b.serialLog)
	if err != nil {
		return fmt.Sprintf("(no serial log: %v)", err)
	}
	return string(s)
}

// RunTask runs command on the node (the only one) and returns its result.
func (b *ImageBoot) RunTask(ctx context.Context, command string, timeout time.Duration) (api.Task, error) {
	return RunTask(ctx, b.Cluster.Client(), command, timeout)
}

// RunTask submits one task and waits for its result, at most timeout plus a
// minute for the dispatch.
func RunTask(ctx context.Context, c *api.Client, command string, timeout time.Duration) (api.Task, error) {
	ids, err := c.Submit(ctx, []api.TaskSpec{{Command: command, Timeout: timeout}})
	if err != nil {
		return api.Task{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout+time.Minute)
	defer cancel()
	done, err := console.WaitTasks(wctx, c, ids, 200*time.Millisecond)
	if err != nil {
		return api.Task{}, err
	}
	return done[0], nil
}

var registeredUptime = regexp.MustCompile(`msg="registered with dispatcher".* uptime=(\d+\.\d+)`)

// RegisteredUptime is the guest's uptime, in seconds since its kernel
// started, when the agent logged its registration (its first Welcome). The
// dispatcher shows the node ready a moment before the agent's line reaches
// the console, so it waits a little for the line.
func (b *ImageBoot) RegisteredUptime() (float64, error) {
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if m := registeredUptime.FindStringSubmatch(b.Serial()); m != nil {
			return strconv.ParseFloat(m[1], 64)
		}
		if time.Now().After(deadline) {
			return 0, errors.New("the serial console has no registration line with an uptime")
		}
	}
}

// Close powers the node off, then stops the cluster.
func (b *ImageBoot) Close() error {
	if b.qemu != nil && b.qemu.Process != nil {
		b.qemu.Process.Kill()
		<-b.exited
	}
	return b.Cluster.Close()
}
