// Package initramfs builds the ramfarm node image: the kernel and the
// initramfs that a diskless node PXE-boots and then runs from RAM, with our
// agent as /init.
//
// Build writes three files to the output directory:
//
//   - vmlinuz: the kernel, copied as is: the host's Debian kernel, or the
//     custom one `make kernel` builds (Config.Kernel).
//   - ramfarm-node.cpio.gz: the root file system (see buildInitrd).
//   - manifest.json: the two above with their sizes and sha256.
//
// The same inputs (source tree, Go toolchain, kernel and busybox packages)
// give the same bytes.
package initramfs

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/u-root/uio/llog"
)

// Artifact names in the output directory.
const (
	KernelName   = "vmlinuz"
	InitrdName   = "ramfarm-node.cpio.gz"
	ManifestName = "manifest.json"
)

// Config says where to build from and to.
type Config struct {
	// OutDir receives the artifacts; it is created if missing.
	OutDir string
	// RepoDir is the root of the ramfarm module: the agent is built with
	// its go.mod.
	RepoDir string
	// Kernel is the kernel to boot: KernelDebian (the default, also when
	// empty) or KernelCustom.
	Kernel Kernel
	// KernelRelease is the Debian kernel to boot, e.g. "6.1.0-56-amd64";
	// empty means the newest one installed.
	KernelRelease string
	// CustomKernel is the custom kernel's bzImage; empty means
	// RepoDir/images/vmlinuz-ramfarm, where `make kernel` puts it.
	CustomKernel string
	// Log receives mkuimage's progress; nil logs nothing.
	Log *llog.Logger
}

// Manifest describes a built image; Build writes it as manifest.json.
type Manifest struct {
	KernelRelease string     `json:"kernelRelease"`
	Artifacts     []Artifact `json:"artifacts"`
}

// Artifact is one file of the image.
type Artifact struct {
	Name   string `json:"name"` // file name in the output directory
	Role   string `json:"role"` // "kernel" or "initrd"
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Build builds the node image into cfg.OutDir. Each file is replaced
// atomically, so a dispatcher serving the directory never sends half a file.
func Build(cfg Config) (*Manifest, error) {
	chosen, err := chooseKernel(cfg)
	if err != nil {
		return nil, err
	}
	release, modules := chosen.release, chosen.modules
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}

	kernel, err := writeArtifact(cfg.OutDir, KernelName, func(w io.Writer) error {
		return copyFile(w, chosen.path)
	})
	if err != nil {
		return nil, err
	}
	kernel.Role = "kernel"

	initrd, err := writeArtifact(cfg.OutDir, InitrdName, func(w io.Writer) error {
		return buildInitrd(w, cfg, release, modules)
	})
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", InitrdName, err)
	}
	initrd.Role = "initrd"

	m := &Manifest{KernelRelease: release, Artifacts: []Artifact{kernel, initrd}}
	_, err = writeArtifact(cfg.OutDir, ManifestName, func(w io.Writer) error {
		return writeJSON(w, m)
	})
	return m, err
}

func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
