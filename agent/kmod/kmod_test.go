package kmod

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeMachine is a QEMU node as kmod sees it: the virtio device shows up
// only once virtio_pci is loaded, as it does in the kernel.
type fakeMachine struct {
	loaded []string
	scans  int
	fail   map[string]error
}

func (m *fakeMachine) scan() []string {
	m.scans++
	modaliases := []string{qemuE1000, qemuVirtioPCI, unknownDevice}
	if slices.Contains(m.loaded, "virtio_pci") {
		modaliases = append(modaliases, qemuVirtioNet)
	}
	return modaliases
}

func (m *fakeMachine) load(name string) error {
	if err := m.fail[name]; err != nil {
		return err
	}
	m.loaded = append(m.loaded, name)
	return nil
}

func TestLoadUntilSettled(t *testing.T) {
	ix := readTestIndex(t, "testdata")
	machine := &fakeMachine{fail: map[string]error{
		"e1000":    unix.ENOEXEC,
		"failover": unix.EEXIST, // loaded behind /proc/modules' back: not an error
	}}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	got := loadUntilSettled(ix, machine.scan, machine.load, map[string]bool{"virtio_ring": true}, log)

	want := []string{"virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci", "net_failover", "virtio_net"}
	if !slices.Equal(got, want) {
		t.Errorf("loaded %v\nwant %v", got, want)
	}
	if machine.scans != 3 {
		t.Errorf("scanned %d times, want 3: PCI devices, then the virtio device, then nothing new", machine.scans)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"cannot load kernel module\" module=e1000") {
		t.Errorf("no warning for the module that failed; log:\n%s", logs.String())
	}
	if strings.Count(logs.String(), "level=WARN") != 1 {
		t.Errorf("want exactly one warning (e1000); log:\n%s", logs.String())
	}
}

func TestLoadForDevicesWithoutModulesDirectory(t *testing.T) {
	loaded, err := LoadForDevices(filepath.Join(t.TempDir(), "6.1.0-custom"), slog.New(slog.DiscardHandler))
	if loaded != nil || err != nil {
		t.Errorf("LoadForDevices(missing dir) = %v, %v; want nil, nil", loaded, err)
	}
}

func TestFinitModuleMissingFile(t *testing.T) {
	err := finitModule(filepath.Join(t.TempDir(), "e1000.ko"))
	if !errors.Is(err, errNotInImage) {
		t.Errorf("finitModule(missing file) = %v, want errNotInImage", err)
	}
}
