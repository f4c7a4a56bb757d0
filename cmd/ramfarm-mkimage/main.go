// Command ramfarm-mkimage builds the image that ramfarm nodes PXE-boot into.
// The work is done by package initramfs; this is its command line.
package main

import (
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/ramfarm/ramfarm/initramfs"
	"github.com/u-root/uio/llog"
)

const usage = `Usage: go run ./cmd/ramfarm-mkimage [flags]

Builds the image a diskless ramfarm node boots into and runs from RAM, and
writes it to the -out directory, which the dispatcher serves over PXE:

  vmlinuz               the kernel: with -kernel debian, the host's Debian
                        kernel (/boot/vmlinuz-<release>); with -kernel
                        custom, ramfarm's own (images/vmlinuz-ramfarm, built
                        by "make kernel", every NIC driver built in)
  ramfarm-node.cpio.lz4  the initramfs of the default profile, minimal: our
                        agent as /init (PID 1), busybox as /bin/sh and the
                        usual tools for tasks, and, for the Debian kernel
                        only, the NIC modules of common servers and QEMU
                        with a modules.dep and modules.alias listing only them
  ramfarm-node-NAME.cpio.lz4
                        the initramfs of any other profile NAME
  manifest.json         kernel release, and size and sha256 of each file

A profile (-profile, repeatable) says what an initramfs holds besides the
agent: busybox, u-root commands, host programs with their shared libraries,
host files, extra kernel modules. Built in, in images/profiles: %s.
Your own profiles go in a directory given with -profile-dir (searched first,
so one there can replace a built-in one), or name a file: -profile
./mine.profile. The format is described in images/README.md.

Run it from the repository root: the agent is compiled from this module's
go.mod. The build is reproducible: the same source, Go toolchain, kernel,
busybox-static package and host files give the same bytes. Needs the Debian
packages linux-image-amd64 and busybox-static, and whatever programs a
profile copies from the host.

Flags:
`

// listFlag is a flag that may be given several times, or once with
// comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("ramfarm-mkimage: ")

	cfg := initramfs.Config{Log: llog.New(slog.LevelInfo, log.Printf)}
	kernel := flag.String("kernel", string(initramfs.KernelDebian), "`kind` of kernel to boot: debian (the host's linux-image-amd64, NIC drivers as modules) or custom (images/vmlinuz-ramfarm from make kernel, drivers built in)")
	flag.StringVar(&cfg.OutDir, "out", "images", "directory to write the artifacts to")
	flag.StringVar(&cfg.KernelRelease, "kernel-release", "", "Debian kernel release to use, e.g. 6.1.0-56-amd64 (default: newest in /boot with modules)")
	flag.StringVar(&cfg.RepoDir, "repo", ".", "root of the ramfarm repository, whose go.mod builds the agent")
	flag.Var((*listFlag)(&cfg.Profiles), "profile", "image `profile` to build, by name or as a path to a .profile file; repeat or separate with commas for several (default "+initramfs.DefaultProfile+")")
	flag.Var((*listFlag)(&cfg.ProfileDirs), "profile-dir", "`directory` of your own NAME.profile files, searched before the built-in ones; repeatable")
	flag.Usage = func() {
		builtin := initramfs.ProfileNames(filepath.Join(cfg.RepoDir, initramfs.BuiltinProfileDir))
		fmt.Fprintf(flag.CommandLine.Output(), usage, strings.Join(builtin, ", "))
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	var err error
	if cfg.Kernel, err = initramfs.ParseKernel(*kernel); err != nil {
		log.Fatal(err)
	}

	m, err := initramfs.Build(cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("kernel release %s, written to %s:\n", m.KernelRelease, cfg.OutDir)
	for _, a := range m.Artifacts {
		what := a.Role
		if a.Profile != "" {
			what = fmt.Sprintf("%s, profile %s, %.1f MiB unpacked", a.Role, a.Profile, float64(a.Unpacked)/(1<<20))
		}
		fmt.Printf("  %-28s %10d bytes (%5.1f MiB)  sha256 %s  (%s)\n",
			a.Name, a.Size, float64(a.Size)/(1<<20), a.SHA256, what)
	}
	fmt.Printf("  %-28s lists them\n", initramfs.ManifestName)
}
