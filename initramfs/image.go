// Package initramfs builds the ramfarm node image: the kernel and the
// initramfs that a diskless node PXE-boots and then runs from RAM, with our
// agent as /init.
//
// Build writes to the output directory:
//
//   - vmlinuz: the kernel, copied as is: the host's Debian kernel, or the
//     custom one `make kernel` builds (Config.Kernel).
//   - an initramfs per profile (see Profile and buildInitrd):
//     ramfarm-node.cpio.lz4 for the default profile, minimal, and
//     ramfarm-node-NAME.cpio.lz4 for any other (InitrdFileName).
//   - manifest.json: the files above with their sizes and sha256.
//
// The same inputs (source tree, Go toolchain, kernel, busybox and the host
// files a profile names) give the same bytes.
package initramfs

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/u-root/uio/llog"
)

// Artifact names in the output directory.
const (
	KernelName   = "vmlinuz"
	InitrdName   = "ramfarm-node" + InitrdExt
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
	// Profiles are the image profiles to build, by name or as paths to
	// .profile files (see LoadProfile); empty means DefaultProfile.
	Profiles []string
	// ProfileDirs hold the user's profiles; they are searched in order,
	// before the built-in ones in RepoDir/images/profiles.
	ProfileDirs []string
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
	Name     string `json:"name"`              // file name in the output directory
	Role     string `json:"role"`              // "kernel" or "initrd"
	Profile  string `json:"profile,omitempty"` // the initrd's profile
	Size     int64  `json:"size"`
	Unpacked int64  `json:"unpacked,omitempty"` // the initrd's size in RAM once unpacked (the cpio archive)
	SHA256   string `json:"sha256"`
}

// Build builds the node image into cfg.OutDir. Each file is replaced
// atomically, so a dispatcher serving the directory never sends half a file.
func Build(cfg Config) (*Manifest, error) {
	profiles, err := loadProfiles(cfg)
	if err != nil {
		return nil, err
	}
	chosen, err := chooseKernel(cfg)
	if err != nil {
		return nil, err
	}
	// Modules first: a profile asking for one the kernel lacks fails
	// before minutes of building.
	modules := make([]*moduleSelection, len(profiles))
	for i, p := range profiles {
		if modules[i], err = chosen.modulesFor(p); err != nil {
			return nil, err
		}
	}
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
	m := &Manifest{KernelRelease: chosen.release, Artifacts: []Artifact{kernel}}

	for i, p := range profiles {
		name := InitrdFileName(p.Name)
		var unpacked int64
		initrd, err := writeArtifact(cfg.OutDir, name, func(w io.Writer) error {
			return buildInitrd(w, cfg, chosen.release, modules[i], p, &unpacked)
		})
		if err != nil {
			return nil, fmt.Errorf("building %s (profile %s): %w", name, p.Name, err)
		}
		initrd.Role, initrd.Profile, initrd.Unpacked = "initrd", p.Name, unpacked
		m.Artifacts = append(m.Artifacts, initrd)
	}

	_, err = writeArtifact(cfg.OutDir, ManifestName, func(w io.Writer) error {
		return writeJSON(w, m)
	})
	return m, err
}

// loadProfiles loads cfg's profiles, refusing two of the same name: they
// would write the same file.
func loadProfiles(cfg Config) ([]*Profile, error) {
	refs := cfg.Profiles
	if len(refs) == 0 {
		refs = []string{DefaultProfile}
	}
	dirs := append(slices.Clone(cfg.ProfileDirs), filepath.Join(cfg.RepoDir, BuiltinProfileDir))
	var profiles []*Profile
	seen := map[string]string{}
	for _, ref := range refs {
		p, err := LoadProfile(dirs, ref)
		if err != nil {
			return nil, err
		}
		if prev, ok := seen[p.Name]; ok {
			return nil, fmt.Errorf("profiles %s and %s are both named %s", prev, ref, p.Name)
		}
		seen[p.Name] = ref
		profiles = append(profiles, p)
	}
	return profiles, nil
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
