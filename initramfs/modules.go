package initramfs

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// nodeModules are the kernel modules a node needs to reach the dispatcher,
// by the name modules.alias uses (dashes become underscores): the NIC
// drivers of QEMU and of common servers, so that a node with a NIC we have
// never seen still finds its driver by modalias. Their dependencies come
// from modules.dep, so list only what a node needs itself. They are about
// 12 MB unpacked, 3.5 MB of the compressed image; the custom kernel has the
// same drivers built in and needs none of them.
var nodeModules = []string{
	// QEMU
	"e1000",      // Intel 82540EM: QEMU's default NIC and the harness default.
	"e1000e",     // Intel 82574L: QEMU's -device e1000e and many real boards.
	"virtio_pci", // PCI transport of every virtio device; the NIC and RNG sit on it.
	"virtio_net", // -device virtio-net-pci, the fastest NIC under QEMU.
	"virtio_rng", // -device virtio-rng-pci: host entropy, so crypto/rand never stalls at boot.
	// Intel servers
	"igb",   // 1 GbE I350/I210/82576: the onboard NIC of most Intel servers.
	"igc",   // 2.5 GbE I225/I226: recent boards and small servers.
	"ixgbe", // 10 GbE 82599/X540/X550.
	"i40e",  // 10/25/40 GbE X710/XL710/XXV710.
	"ice",   // 25/100 GbE E810 (runs in safe mode without its DDP firmware file, enough to boot).
	// Broadcom, Realtek, Mellanox
	"tg3",       // Broadcom NetXtreme BCM57xx: Dell and HPE onboard 1 GbE.
	"bnxt_en",   // Broadcom NetXtreme-C/E 10-200 GbE.
	"r8169",     // Realtek 8111/8168/8125: desktops and small servers.
	"mlx4_en",   // Mellanox ConnectX-3 Ethernet.
	"mlx5_core", // Mellanox ConnectX-4 and later (Ethernet is part of mlx5_core).
}

// moduleSelection is the part of a kernel's module tree that goes into the
// image: the wanted modules with their dependencies, and modules.dep and
// modules.alias cut down to them, which is what the agent reads to match
// devices to drivers and to load dependencies first.
type moduleSelection struct {
	Names []string // module names, sorted
	Paths []string // .ko paths relative to /lib/modules/<release>, sorted
	Dep   []byte   // modules.dep listing only Paths
	Alias []byte   // modules.alias listing only Names
}

// selectModules resolves wanted against the module tree in dir
// (/lib/modules/<release>). A wanted module that the kernel has built in
// needs no file and is left out; one that is neither is an error.
func selectModules(dir string, wanted []string) (*moduleSelection, error) {
	depFile, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	depsOf, pathOf := parseModulesDep(depFile)
	builtin, err := builtinModules(dir)
	if err != nil {
		return nil, err
	}

	selected := map[string]bool{} // by path
	var add func(p string)
	add = func(p string) {
		if selected[p] {
			return
		}
		selected[p] = true
		for _, dep := range depsOf[p] {
			add(dep)
		}
	}
	for _, name := range wanted {
		switch p, ok := pathOf[name]; {
		case ok:
			add(p)
		case builtin[name]:
		default:
			return nil, fmt.Errorf("kernel module %q is neither in %s/modules.dep nor built in", name, dir)
		}
	}

	sel := &moduleSelection{}
	names := map[string]bool{}
	for p := range selected {
		sel.Paths = append(sel.Paths, p)
		sel.Names = append(sel.Names, moduleName(p))
		names[moduleName(p)] = true
	}
	slices.Sort(sel.Paths)
	slices.Sort(sel.Names)

	sel.Dep = filterLines(depFile, func(line string) bool {
		p, _, _ := strings.Cut(line, ":")
		return selected[p]
	})
	aliasFile, err := os.ReadFile(filepath.Join(dir, "modules.alias"))
	if err != nil {
		return nil, err
	}
	sel.Alias = filterLines(aliasFile, func(line string) bool {
		// "alias <pattern> <module>"; comments have no module and drop out.
		fields := strings.Fields(line)
		return len(fields) == 3 && fields[0] == "alias" && names[fields[2]]
	})
	return sel, nil
}

// parseModulesDep reads lines of "path.ko: dep.ko dep.ko" into each module's
// dependencies and each module name's path.
func parseModulesDep(depFile []byte) (depsOf map[string][]string, pathOf map[string]string) {
	depsOf = map[string][]string{}
	pathOf = map[string]string{}
	for line := range strings.Lines(string(depFile)) {
		p, deps, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		depsOf[p] = strings.Fields(deps)
		pathOf[moduleName(p)] = p
	}
	return depsOf, pathOf
}

// builtinModules reads modules.builtin, which lists the modules compiled
// into the kernel by the path they would have had.
func builtinModules(dir string) (map[string]bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, "modules.builtin"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	builtin := map[string]bool{}
	for _, p := range strings.Fields(string(data)) {
		builtin[moduleName(p)] = true
	}
	return builtin, nil
}

// moduleName turns a module path into the name the kernel and modules.alias
// use: "kernel/drivers/char/hw_random/virtio-rng.ko" is "virtio_rng".
func moduleName(modulePath string) string {
	base := strings.TrimSuffix(path.Base(modulePath), ".ko")
	return strings.ReplaceAll(base, "-", "_")
}

// filterLines keeps the lines of data for which keep is true, in order.
func filterLines(data []byte, keep func(line string) bool) []byte {
	var out bytes.Buffer
	for line := range strings.Lines(string(data)) {
		if keep(strings.TrimSuffix(line, "\n")) {
			out.WriteString(line)
		}
	}
	return out.Bytes()
}
