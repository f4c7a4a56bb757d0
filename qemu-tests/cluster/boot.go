package cluster

import "github.com/ramfarm/ramfarm/initramfs"

// bootArgs are the dispatcher's flags that say how nodes boot: who leases
// addresses and which kernel. The iPXE binaries come from the dispatcher's
// default --ipxe-dir, Debian's /usr/lib/ipxe, so the tests boot what a
// Debian install serves (ipxe.efi there is a symlink into /boot).
func (c *Cluster) bootArgs() []string {
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
	// The initramfs the image builder wrote, by the builder's own name for
	// it, whatever the dispatcher's default --initrd says.
	args = append(args, "--initrd", initramfs.InitrdName)
	return args
}
