// Package kmod loads the kernel modules that this machine's devices need,
// above all its NIC drivers: Debian's kernel builds them as modules, so a
// node sees only lo until they are loaded. It does what modprobe and udev
// coldplug would do, for an image that has neither.
package kmod

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// LoadForDevices loads the modules matching the modalias of every device
// under /sys/bus/*/devices/*/modalias, using dir/modules.alias and
// dir/modules.dep (dir is /lib/modules/<uname -r>), each module after its
// dependencies. It scans again after each round that loaded something,
// because a bus driver creates new devices: loading virtio_pci brings up
// the virtio device that needs virtio_net.
//
// It returns the modules it loaded, in order. A missing dir gives (nil, nil):
// a kernel with its drivers built in needs no modules. A module that fails
// to load is logged and the others are still loaded.
func LoadForDevices(dir string, log *slog.Logger) ([]string, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		log.Debug("no modules directory, assuming drivers are built in", "dir", dir)
		return nil, nil
	}
	ix, err := readIndex(dir)
	if err != nil {
		return nil, err
	}
	alreadyLoaded, err := parseFile("/proc/modules", parseLoaded)
	if errors.Is(err, fs.ErrNotExist) {
		// A kernel without module support has no /proc/modules.
		alreadyLoaded, err = map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	load := func(name string) error {
		return finitModule(filepath.Join(dir, ix.modules[name].file))
	}
	return loadUntilSettled(ix, deviceModaliases, load, alreadyLoaded, log), nil
}

// loadUntilSettled loads modules for the devices that scan reports, round
// after round, until a round loads nothing new. done holds the modules
// already loaded; every module tried is added to it, so none is tried twice.
func loadUntilSettled(ix *index, scan func() []string, load func(name string) error, done map[string]bool, log *slog.Logger) []string {
	var loaded []string
	for {
		before := len(loaded)
		for _, name := range ix.loadOrder(scan(), done) {
			done[name] = true
			switch err := load(name); {
			case err == nil:
				log.Info("loaded kernel module", "module", name)
				loaded = append(loaded, name)
			case errors.Is(err, unix.EEXIST):
				log.Debug("kernel module already loaded", "module", name)
			case errors.Is(err, errNotInImage):
				log.Debug("kernel module not in this image", "module", name, "err", err)
			default:
				log.Warn("cannot load kernel module", "module", name, "err", err)
			}
		}
		if len(loaded) == before {
			return loaded
		}
	}
}

// deviceModaliases returns the distinct modaliases of the devices in sysfs.
func deviceModaliases() []string {
	files, _ := filepath.Glob("/sys/bus/*/devices/*/modalias") // the pattern is valid
	var modaliases []string
	seen := make(map[string]bool)
	for _, file := range files {
		b, err := os.ReadFile(file)
		modalias := strings.TrimSpace(string(b))
		if err != nil || modalias == "" || seen[modalias] {
			continue
		}
		seen[modalias] = true
		modaliases = append(modaliases, modalias)
	}
	return modaliases
}

// errNotInImage means the module file is missing: an image may ship only
// some of the modules its modules.dep names (say, only NIC drivers). It is
// told apart from finit_module's own ENOENT, which means unknown symbols.
var errNotInImage = errors.New("module file not in this image")

// finitModule loads one module file. Compressed modules (.ko.xz, .ko.zst,
// .ko.gz) are handed to the kernel to decompress, which needs
// CONFIG_MODULE_DECOMPRESS.
func finitModule(file string) error {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %v", errNotInImage, err)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if !strings.HasSuffix(file, ".ko") {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	return os.NewSyscallError("finit_module", unix.FinitModule(int(f.Fd()), "", flags))
}
