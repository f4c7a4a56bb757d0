// Package kexec restarts a node straight into another kernel: it fetches a
// kernel and an initramfs from the dispatcher's boot server, checks each
// against the sha256 the dispatcher sent over the agent's TLS connection,
// and loads them with kexec_file_load(2). The caller then restarts into them
// (sysinit.KexecReboot).
//
// The files live in memfds: a diskless node has nowhere else to put them,
// and the kernel copies them out at load time, so they are freed once Load
// returns.
package kexec

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/ramfarm/ramfarm/protocol"
	"golang.org/x/sys/unix"
)

// MaxFileSize bounds what Fetch keeps in RAM for one file: a kernel is
// tens of MB and a large initramfs hundreds, so a bigger one is a mistake
// that would only run the node out of memory.
const MaxFileSize = 1 << 30

// Load fetches img's kernel and initramfs, checks their digests and loads
// them for the next reboot(LINUX_REBOOT_CMD_KEXEC). On error nothing new is
// loaded.
func Load(ctx context.Context, img protocol.BootImage) error {
	kernel, err := Fetch(ctx, img.Kernel, img.KernelSHA256)
	if err != nil {
		return fmt.Errorf("kernel: %w", err)
	}
	defer kernel.Close()
	initrd, err := Fetch(ctx, img.Initrd, img.InitrdSHA256)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	defer initrd.Close()
	if err := unix.KexecFileLoad(int(kernel.Fd()), int(initrd.Fd()), img.Cmdline, 0); err != nil {
		return fmt.Errorf("%w (is the kernel built with CONFIG_KEXEC_FILE, and is the image a 64-bit relocatable bzImage?)",
			os.NewSyscallError("kexec_file_load", err))
	}
	return nil
}

// Fetch downloads url into a memfd and checks that its sha256 is want
// (lowercase hex). It returns the memfd, or an error saying what was wrong.
func Fetch(ctx context.Context, url, want string) (*os.File, error) {
	fd, err := unix.MemfdCreate("ramfarm-kexec", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	f := os.NewFile(uintptr(fd), url)
	h := sha256.New()
	if err := httpGet(ctx, url, io.MultiWriter(f, h), MaxFileSize); err != nil {
		f.Close()
		return nil, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		f.Close()
		return nil, fmt.Errorf("%s: sha256 %s, the dispatcher said %s: refusing it", url, got, want)
	}
	return f, nil
}
