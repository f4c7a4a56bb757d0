package dispatcher

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/protocol"
	"github.com/ramfarm/ramfarm/pxe"
)

// bootServer gives h boot services (built, not run: Kexec only reads their
// files) whose kernel is kernel.
func bootServer(t *testing.T, h *harness, kernel []byte) {
	t.Helper()
	tftpRoot, bootDir := t.TempDir(), t.TempDir()
	for dir, files := range map[string][]string{tftpRoot: {"undionly.kpxe", "ipxe.efi", "snponly.efi"}, bootDir: {"initrd.img"}} {
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("binary "+f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(bootDir, "vmlinuz"), kernel, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := pxe.New(pxe.Config{
		Interface: "rfkexec0", ServerIP: netip.MustParseAddr("10.77.0.1"), Subnet: netip.MustParsePrefix("10.77.0.0/24"),
		Ranges:   []pxe.Range{{Start: netip.MustParseAddr("10.77.0.100"), End: netip.MustParseAddr("10.77.0.199")}},
		TFTPRoot: tftpRoot, BootDir: bootDir, Kernel: "vmlinuz", Initrd: "initrd.img", Cmdline: "console=ttyS0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.d.mu.Lock()
	h.d.boot = s
	h.d.mu.Unlock()
}

func TestKexecCommand(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	a := join(t, h, "52:54:00:00:00:01", 1)
	if err := h.d.Kexec(a.name); !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "--no-pxe") {
		t.Fatalf("kexec without boot services: %v, want a conflict naming --no-pxe", err)
	}
	kernel := []byte("a kernel image")
	bootServer(t, h, kernel)
	if err := h.d.Kexec("nosuchnode"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("kexec of an unknown node: %v", err)
	}
	if err := h.d.Kexec(a.name); err != nil {
		t.Fatal(err)
	}
	c, ok := a.receive().(*protocol.Command)
	if !ok || c.Op != protocol.OpKexec || c.Boot == nil {
		t.Fatalf("want a kexec command with a boot image, got %#v", c)
	}
	sum := sha256.Sum256(kernel)
	if c.Boot.KernelSHA256 != hex.EncodeToString(sum[:]) || !strings.HasSuffix(c.Boot.Cmdline, "BOOTIF=01-52-54-00-00-00-01") {
		t.Errorf("boot image %+v: want the kernel's digest and this node's BOOTIF", c.Boot)
	}

	// Until it registers again, the node gets no task, even if it asks.
	ids := submit(t, h, "must wait")
	a.send(&protocol.Request{Slots: 1})
	a.send(&protocol.Heartbeat{Load1: 0.77}) // handled after the request
	deadline := time.Now().Add(5 * time.Second)
	for nodeLoad(h, a.name) != 0.77 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if task := taskState(t, h, ids[0]); task.State != api.TaskQueued {
		t.Fatalf("a task went to a node told to kexec: %+v", task)
	}
	a.nc.Close()
	back, m := dial(t, h, protocol.Hello{Token: h.token, MAC: "52:54:00:00:00:01", BootID: "boot-2", Cores: 1})
	if _, ok := m.(*protocol.Welcome); !ok {
		t.Fatalf("got %#v", m)
	}
	back.send(&protocol.Request{Slots: 1})
	if got := back.task(); got.ID != ids[0] {
		t.Fatalf("after kexec got task %d, want %d", got.ID, ids[0])
	}
}

func nodeLoad(h *harness, name string) float64 {
	for _, n := range h.d.Nodes() {
		if n.Name == name {
			return n.Load1
		}
	}
	return -1
}
