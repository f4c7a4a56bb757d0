// Command ramfarm-mkimage builds the image that ramfarm nodes PXE-boot into.
// The work is done by package initramfs; this is its command line.
package main

import (
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"

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
  ramfarm-node.cpio.gz  the initramfs: our agent as /init (PID 1), busybox
                        as /bin/sh and the usual tools for tasks, and, for
                        the Debian kernel only, the e1000/e1000e/virtio NIC
                        modules with a modules.dep and modules.alias listing
                        only them
  manifest.json         kernel release, and size and sha256 of both files

Run it from the repository root: the agent is compiled from this module's
go.mod. The build is reproducible: the same source, Go toolchain, kernel and
busybox-static package give the same bytes. Needs the Debian packages
linux-image-amd64 and busybox-static.

Flags:
`

func main() {
	log.SetFlags(0)
	log.SetPrefix("ramfarm-mkimage: ")

	cfg := initramfs.Config{Log: llog.New(slog.LevelInfo, log.Printf)}
	kernel := flag.String("kernel", string(initramfs.KernelDebian), "`kind` of kernel to boot: debian (the host's linux-image-amd64, NIC drivers as modules) or custom (images/vmlinuz-ramfarm from make kernel, drivers built in)")
	flag.StringVar(&cfg.OutDir, "out", "images", "directory to write the artifacts to")
	flag.StringVar(&cfg.KernelRelease, "kernel-release", "", "Debian kernel release to use, e.g. 6.1.0-56-amd64 (default: newest in /boot with modules)")
	flag.StringVar(&cfg.RepoDir, "repo", ".", "root of the ramfarm repository, whose go.mod builds the agent")
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), usage)
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
		fmt.Printf("  %-22s %10d bytes (%5.1f MiB)  sha256 %s\n",
			a.Name, a.Size, float64(a.Size)/(1<<20), a.SHA256)
	}
	fmt.Printf("  %-22s lists both\n", initramfs.ManifestName)
}
