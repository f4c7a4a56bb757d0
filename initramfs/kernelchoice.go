package initramfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Kernel says which kernel the image boots.
type Kernel string

const (
	// KernelDebian is the host's Debian kernel (linux-image-amd64), whose
	// NIC drivers are modules: the image carries them and the agent loads
	// the ones matching the machine's devices.
	KernelDebian Kernel = "debian"
	// KernelCustom is ramfarm's own kernel, built by `make kernel`
	// (kernel-config/build.sh) into images/vmlinuz-ramfarm, with every
	// driver a node needs built in: the image carries no modules.
	KernelCustom Kernel = "custom"
)

// CustomKernelPath is where `make kernel` puts the custom kernel, relative
// to the repository root.
const CustomKernelPath = "images/vmlinuz-ramfarm"

// ParseKernel accepts the names of the Kernel constants; "" is KernelDebian.
func ParseKernel(s string) (Kernel, error) {
	switch k := Kernel(s); k {
	case "", KernelDebian:
		return KernelDebian, nil
	case KernelCustom:
		return k, nil
	}
	return "", fmt.Errorf("unknown kernel %q: want %q or %q", s, KernelDebian, KernelCustom)
}

// chosenKernel is the kernel file an image boots.
type chosenKernel struct {
	path      string // the file copied to vmlinuz
	release   string // uname -r of that kernel
	moduleDir string // its module tree on the host; "" for the custom kernel, which has none
}

// chooseKernel resolves cfg's kernel choice.
func chooseKernel(cfg Config) (*chosenKernel, error) {
	kind, err := ParseKernel(string(cfg.Kernel))
	if err != nil {
		return nil, err
	}
	if kind == KernelDebian {
		release, err := kernelRelease(hostBootDir, hostModulesRoot, cfg.KernelRelease)
		if err != nil {
			return nil, err
		}
		return &chosenKernel{
			path:      filepath.Join(hostBootDir, "vmlinuz-"+release),
			release:   release,
			moduleDir: filepath.Join(hostModulesRoot, release),
		}, nil
	}

	if cfg.KernelRelease != "" {
		return nil, fmt.Errorf("a kernel release (%s) can only be chosen for the %s kernel", cfg.KernelRelease, KernelDebian)
	}
	path := cfg.CustomKernel
	if path == "" {
		path = filepath.Join(cfg.RepoDir, CustomKernelPath)
	}
	release, err := bzImageRelease(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no custom kernel at %s: build it with `make kernel` (kernel-config/build.sh)", path)
	}
	if err != nil {
		return nil, err
	}
	return &chosenKernel{path: path, release: release}, nil
}

// modulesFor selects the modules an image for profile p carries: the NIC
// drivers every node needs plus the profile's own, with their dependencies.
// The custom kernel has every driver built in: no module tree, no
// modules.dep or modules.alias, and the agent's loader finds no
// /lib/modules/<release> and loads nothing.
func (k *chosenKernel) modulesFor(p *Profile) (*moduleSelection, error) {
	if k.moduleDir == "" {
		if len(p.Modules) > 0 {
			return nil, fmt.Errorf("profile %s asks for kernel modules %q, but the custom kernel has no modules: build the drivers in (kernel-config/ramfarm.config)", p.Name, p.Modules)
		}
		return &moduleSelection{Names: []string{}}, nil
	}
	return selectModules(k.moduleDir, appendNew(slices.Clone(nodeModules), p.Modules...))
}

// bzImageRelease reads the kernel release (what uname -r will say) from the
// version string an x86 bzImage carries in its setup header (the Linux boot
// protocol's kernel_version field, protocol 2.00 and later).
func bzImageRelease(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()

	notBzImage := fmt.Errorf("%s is not an x86 bzImage", path)
	var hdr [0x210]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return "", notBzImage
	}
	if string(hdr[0x202:0x206]) != "HdrS" || binary.LittleEndian.Uint16(hdr[0x206:]) < 0x200 {
		return "", notBzImage
	}
	offset := int64(binary.LittleEndian.Uint16(hdr[0x20e:]))
	if offset == 0 {
		return "", fmt.Errorf("%s: the bzImage has no version string", path)
	}
	var version [256]byte
	n, err := f.ReadAt(version[:], offset+0x200)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	// "6.1.192-ramfarm (ramfarm@ramfarm) #1 SMP ..."
	s, _, _ := bytes.Cut(version[:n], []byte{0})
	release, _, _ := strings.Cut(string(s), " ")
	if release == "" {
		return "", fmt.Errorf("%s: the bzImage has an empty version string", path)
	}
	return release, nil
}
