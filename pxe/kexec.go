package pxe

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/ramfarm/ramfarm/protocol"
)

// KexecImage returns what the node with this MAC boots, for its agent to
// kexec into: the kernel and initramfs its iPXE script names, at the same
// URLs, with their sha256 digests and the same command line. BOOTIF is
// filled in here, since no iPXE is there to do it.
//
// The digests are computed now, from the files as they are on disk: a
// file replaced since the server started is what the node gets, as it
// would be over PXE.
func (s *Server) KexecImage(mac net.HardwareAddr) (protocol.BootImage, error) {
	return s.http.kexecImage(mac)
}

func (b *bootHTTP) kexecImage(mac net.HardwareAddr) (protocol.BootImage, error) {
	p, _ := b.policy.ProfileFor(mac)
	kernelSum, err := b.digest(p.Kernel)
	if err != nil {
		return protocol.BootImage{}, err
	}
	initrdSum, err := b.digest(p.Initrd)
	if err != nil {
		return protocol.BootImage{}, err
	}
	img := protocol.BootImage{
		Kernel: bootFileURL(b.baseURL, p.Kernel), KernelSHA256: kernelSum,
		Initrd: bootFileURL(b.baseURL, p.Initrd), InitrdSHA256: initrdSum,
		Cmdline: nodeCmdline(p, b.extraCmdline, strings.ReplaceAll(mac.String(), ":", "-")),
	}
	if err := img.Validate(); err != nil {
		return protocol.BootImage{}, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	return img, nil
}

// digest is the sha256 of a file of BootDir, in lowercase hex.
func (b *bootHTTP) digest(name string) (string, error) {
	f, _, err := openFile(b.bootDir, name)
	if err != nil {
		return "", fmt.Errorf("boot file: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("boot file %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
