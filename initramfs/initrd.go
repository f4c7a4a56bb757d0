package initramfs

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/u-root/gobusybox/src/pkg/golang"
	"github.com/u-root/mkuimage/cpio"
	"github.com/u-root/mkuimage/uimage"
)

// AgentPackage is the Go command that runs as /init on every node.
const AgentPackage = "github.com/ramfarm/ramfarm/cmd/ramfarm-agent"

// imageInfoPath is where the image describes itself to the agent.
const imageInfoPath = "etc/ramfarm/image.json"

// urootCorePrefix is the import path of u-root's core commands; a profile's
// uroot lines name the last element.
const urootCorePrefix = "github.com/u-root/u-root/cmds/core/"

// imageInfo is the content of /etc/ramfarm/image.json.
type imageInfo struct {
	Image         string   `json:"image"`
	Profile       string   `json:"profile"`
	KernelRelease string   `json:"kernelRelease"`
	Modules       []string `json:"modules"`
}

// buildInitrd writes the root file system of profile p to w as a
// LZ4-compressed cpio archive, assembled by u-root's mkuimage, and the
// archive's size before compression to *unpacked:
//
//   - /bin/ramfarm-agent, built from RepoDir's module, and /init linking to
//     it: the agent is PID 1, there is no other init;
//   - with busybox: /bin/busybox with a /bin/<applet> symlink per applet
//     (/bin/sh too);
//   - with uroot: u-root's core commands in one binary, /bbin/bb, and a
//     /bbin/<command> link each;
//   - the profile's host files and programs with their shared libraries;
//   - /lib/modules/<release>/: the NIC drivers of nodeModules and the
//     profile's modules with their dependencies, and modules.dep and
//     modules.alias listing only those;
//   - /etc/ramfarm/image.json, and the mount points and device nodes a
//     kernel needs before the agent mounts /dev, /proc and /sys.
func buildInitrd(w io.Writer, cfg Config, release string, modules *moduleSelection, p *Profile, unpacked *int64) error {
	// go build creates the agent and its directory with the process's
	// umask, and the image would keep those modes: fix it for the build.
	defer syscall.Umask(syscall.Umask(0o022))

	tmp, err := os.MkdirTemp("", "ramfarm-mkimage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	repo, err := filepath.Abs(cfg.RepoDir)
	if err != nil {
		return err
	}
	base, err := baseArchive(release, modules, p.Name)
	if err != nil {
		return err
	}
	hostFiles, err := resolveHostFiles(p.Files, p.Excludes)
	if err != nil {
		return fmt.Errorf("profile %s: %w", p.Name, err)
	}
	if !p.Busybox && !slices.ContainsFunc(hostFiles, func(f string) bool { return strings.HasSuffix(f, ":bin/sh") }) {
		return fmt.Errorf("profile %s has no /bin/sh (add busybox, or a shell as file HOST /bin/sh): the agent runs every task with /bin/sh -c", p.Name)
	}

	goEnv := golang.Default(
		golang.DisableCGO(), // static: the image has no libc
		golang.WithGOOS("linux"),
		golang.WithGOARCH("amd64"),
		golang.WithWorkingDir(repo), // resolve the agent with our own go.mod
	)
	// The image must depend on the source, not on the git HEAD or on
	// whether the work tree is dirty.
	agentOpts := &golang.BuildOpts{ExtraArgs: []string{"-buildvcs=false"}}

	mods := []uimage.Modifier{
		uimage.WithReplaceEnv(goEnv),
		uimage.WithTempDir(tmp),
		uimage.WithBinaryCommandsOpts(agentOpts, AgentPackage),
		uimage.WithInit(path.Base(AgentPackage)),
		uimage.WithBaseArchive(base),
		// resolveHostFiles has added the libraries that programs need;
		// mkuimage's own ldd pass would only repeat it, and busybox is
		// static and .ko files are not programs.
		uimage.WithSkipLDD(),
		uimage.WithFiles(moduleFiles(release, modules)...),
		uimage.WithFiles(hostFiles...),
		uimage.WithOutput(lz4CPIO{w: w, unpacked: unpacked}),
	}
	if len(p.URoot) > 0 {
		var pkgs []string
		for _, c := range p.URoot {
			pkgs = append(pkgs, urootCorePrefix+c)
		}
		mods = append(mods, uimage.WithBusyboxCommands(pkgs...), uimage.WithBusyboxBuildOpts(agentOpts))
	}
	if p.Busybox {
		busybox, err := withBusybox(hostBusybox)
		if err != nil {
			return err
		}
		mods = append(mods, busybox...)
	}
	if err := uimage.Create(cfg.Log, mods...); err != nil {
		if len(p.URoot) > 0 && strings.Contains(err.Error(), "resolve") {
			return fmt.Errorf("%w (u-root commands must be tools of this module: go get -tool %s<name>@<version as in go.mod>)", err, urootCorePrefix)
		}
		return err
	}
	return nil
}

// baseArchive holds the records that are not host files: mount points,
// device nodes and generated files.
func baseArchive(release string, modules *moduleSelection, profile string) (*cpio.Archive, error) {
	info, err := json.MarshalIndent(imageInfo{
		Image:         "ramfarm-node",
		Profile:       profile,
		KernelRelease: release,
		Modules:       modules.Names,
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	records := []cpio.Record{
		// Mount points for the file systems the agent mounts.
		cpio.Directory("dev", 0o755),
		cpio.Directory("proc", 0o755),
		cpio.Directory("sys", 0o755),
		cpio.Directory("run", 0o755),
		cpio.Directory("tmp", 0o1777),
		// The kernel opens /dev/console as init's stdin, stdout and
		// stderr before anything can mount devtmpfs: without it the
		// agent's output would go nowhere.
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.CharDev("dev/null", 0o666, 1, 3),
		cpio.StaticFile(imageInfoPath, string(info)+"\n", 0o644),
	}
	// A kernel with its drivers built in gets no module directory at all.
	if len(modules.Paths) > 0 {
		moduleDir := path.Join("lib/modules", release)
		records = append(records,
			cpio.StaticFile(path.Join(moduleDir, "modules.dep"), string(modules.Dep), 0o644),
			cpio.StaticFile(path.Join(moduleDir, "modules.alias"), string(modules.Alias), 0o644))
	}
	return cpio.ArchiveFromRecords(records)
}

// moduleFiles maps the selected .ko files from the host's module tree to
// the same paths in the image, in mkuimage's "host:archive" form.
func moduleFiles(release string, modules *moduleSelection) []string {
	var files []string
	for _, p := range modules.Paths {
		host := filepath.Join(hostModulesRoot, release, p)
		files = append(files, host+":"+path.Join("lib/modules", release, p))
	}
	return files
}
