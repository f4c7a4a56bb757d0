package cluster

import (
	"fmt"
	"os"
	"path/filepath"
)

// ipxeBinaries are the files the dispatcher serves over TFTP to PXE firmware
// (pxe/firmware.go picks one by option 93).
var ipxeBinaries = []string{"undionly.kpxe", "ipxe.efi", "snponly.efi"}

// debianIPXEDir is where Debian's ipxe package puts them.
const debianIPXEDir = "/usr/lib/ipxe"

// bootArgs are the dispatcher's flags that say how nodes boot: who leases
// addresses, which kernel, where the iPXE binaries are.
func (c *Cluster) bootArgs() ([]string, error) {
	var args []string
	if c.cfg.ProxyDHCP {
		// No --dhcp-range: the site's DHCP server owns the addresses.
		args = append(args, "--dhcp-mode", "proxy")
	} else {
		args = append(args, "--dhcp-range", dhcpRange)
	}
	if c.cfg.Kernel != "" {
		args = append(args, "--kernel", c.cfg.Kernel)
	}
	dir, err := copyIPXEBinaries(c.cfg.WorkDir)
	if err != nil {
		return nil, err
	}
	return append(args, "--ipxe-dir", dir), nil
}

// copyIPXEBinaries copies Debian's iPXE binaries into workDir/ipxe and
// returns that directory. Debian's /usr/lib/ipxe/ipxe.efi is a symlink to
// /boot/ipxe.efi, which the dispatcher's TFTP root (an os.Root) refuses to
// follow out of the directory ("path escapes from parent"), so UEFI nodes
// could not fetch it from the package's directory. Copies keep the tests
// about the boot path rather than about that packaging detail.
func copyIPXEBinaries(workDir string) (string, error) {
	dir := filepath.Join(workDir, "ipxe")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, name := range ipxeBinaries {
		b, err := os.ReadFile(filepath.Join(debianIPXEDir, name)) // follows the symlink
		if err != nil {
			return "", fmt.Errorf("iPXE binary (apt-get install ipxe): %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}
