package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// NodeConfig describes one QEMU guest.
type NodeConfig struct {
	Name      string           // node name; QEMU's -name is "<namespace>/<Name>"
	Net       *Net             // network the node is wired to
	Tap       string           // tap device made with Net.AddTap
	MAC       net.HardwareAddr // NIC address, locally administered, e.g. 52:54:00:xx:xx:xx
	CPUs      int              // default 1
	MemoryMB  int              // default 512
	NIC       string           // QEMU NIC model: "e1000" (BIOS default) or "virtio-net-pci" (UEFI default, and the only one UEFI drives)
	SerialLog string           // file receiving the serial console: firmware, iPXE, kernel and agent output
	Firmware  Firmware         // BIOS (default) or UEFI
	WorkDir   string           // UEFI only: receives the node's copy of the UEFI variable store
}

// Node is a running QEMU guest.
type Node struct {
	cfg       NodeConfig
	cmd       *exec.Cmd
	startedAt time.Time
	stderr    OutputBuffer
	exited    chan struct{} // closed once the QEMU process has been reaped
}

// StartNode powers on a node inside cfg.Net's namespace. It has no disk and
// boots from the network only: with BIOS through the iPXE option ROM that
// QEMU loads for the NIC, with UEFI through OVMF's own PXE client (see
// Firmware). When the guest reboots, QEMU resets the machine in place and
// it PXE-boots again.
//
// QEMU is killed when ctx is done and when the calling process dies
// (parent-death signal). That signal follows the OS thread that started
// QEMU, so do not call StartNode from a goroutine locked to a thread that
// will exit.
func StartNode(ctx context.Context, cfg NodeConfig) (*Node, error) {
	args, err := qemuArgs(&cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, exited: make(chan struct{})}
	n.cmd = cfg.Net.Command(ctx, "qemu-system-x86_64", args...)
	n.cmd.Stderr = &n.stderr
	// ip netns exec execs QEMU in place, and the signal survives exec.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	n.startedAt = time.Now()
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("vm: starting node %s: %w", cfg.Name, err)
	}
	go func() {
		_ = n.cmd.Wait() // a killed node exits with an error, which is its point
		close(n.exited)
	}()
	return n, nil
}

// qemuArgs fills in cfg's defaults and returns QEMU's command line.
func qemuArgs(cfg *NodeConfig) ([]string, error) {
	if cfg.Net == nil || cfg.Name == "" || cfg.Tap == "" || cfg.SerialLog == "" || len(cfg.MAC) != 6 {
		return nil, fmt.Errorf("vm: NodeConfig needs Name, Net, Tap, MAC and SerialLog, got %+v", *cfg)
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 512
	}
	boot, err := firmwareArgs(cfg)
	if err != nil {
		return nil, err
	}
	args := []string{
		"-name", cfg.Net.cfg.Name + "/" + cfg.Name, // lets Leftovers find it by namespace
		// Only the devices listed here: no default NIC, monitor or
		// parallel port, and no host config files.
		"-no-user-config", "-nodefaults",
		// No window; with no VGA either, SeaBIOS, OVMF and iPXE print
		// to the serial port, so the log shows the whole boot.
		"-nographic", "-vga", "none",
		"-accel", "tcg", "-cpu", "max",
		"-smp", strconv.Itoa(cfg.CPUs),
		"-m", strconv.Itoa(cfg.MemoryMB),
		"-netdev", "tap,id=net0,ifname=" + cfg.Tap + ",script=no,downscript=no",
	}
	args = append(args, boot...) // firmware, boot order and the NIC on net0
	return append(args,
		// Host entropy, so the guest kernel's random pool fills at once.
		"-device", "virtio-rng-pci",
		"-serial", "file:"+cfg.SerialLog,
	), nil
}

// PID is the QEMU process's id.
func (n *Node) PID() int { return n.cmd.Process.Pid }

// StartedAt is when the node was powered on.
func (n *Node) StartedAt() time.Time { return n.startedAt }

// Kill pulls the plug: SIGKILL to QEMU, as when a node dies. It returns
// once the process is gone.
func (n *Node) Kill() error {
	return n.signalAndWait(syscall.SIGKILL, 0)
}

// Stop asks QEMU to quit (SIGTERM), kills it if it has not within five
// seconds, and returns once it is gone. It is idempotent.
func (n *Node) Stop() error {
	return n.signalAndWait(syscall.SIGTERM, 5*time.Second)
}

func (n *Node) signalAndWait(sig syscall.Signal, grace time.Duration) error {
	select {
	case <-n.exited:
		return nil
	default:
	}
	if err := n.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("vm: node %s: %w", n.cfg.Name, err)
	}
	if grace > 0 {
		select {
		case <-n.exited:
			return nil
		case <-time.After(grace):
			_ = n.cmd.Process.Kill()
		}
	}
	<-n.exited
	return nil
}

// Log returns the serial console output so far, followed by anything QEMU
// itself printed (such as a tap it could not open), for failure messages.
func (n *Node) Log() string {
	serial, err := os.ReadFile(n.cfg.SerialLog)
	if err != nil {
		serial = []byte(fmt.Sprintf("(no serial log: %v)\n", err))
	}
	if stderr := n.stderr.String(); stderr != "" {
		return string(serial) + "\n--- qemu stderr ---\n" + stderr
	}
	return string(serial)
}

// OutputBuffer collects a process's output while others read it (QEMU's
// stderr here, the dispatcher's log in package cluster).
type OutputBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *OutputBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *OutputBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
