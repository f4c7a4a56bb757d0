package bench

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
)

// tftpBootScript is the iPXE script of the dnsmasq side: the same lines
// ramfarm's own script has (pxe.renderScript: kernel URL, initrd=NAME, the
// command line, BOOTIF), with tftp:// URLs, since a plain dnsmasq setup
// serves everything from its TFTP root.
func tftpBootScript(server, kernel, initrd, cmdline string) string {
	base := "tftp://" + server + "/"
	kernelArgs := []string{base + kernel, "initrd=" + path.Base(initrd)}
	if cmdline != "" {
		kernelArgs = append(kernelArgs, cmdline)
	}
	kernelArgs = append(kernelArgs, "BOOTIF=01-${netX/mac:hexhyp}")
	return "#!ipxe\n" +
		"kernel " + strings.Join(kernelArgs, " ") + "\n" +
		"initrd " + base + initrd + "\n" +
		"boot\n"
}

// bootTargets are what an iPXE script tells a node to load.
type bootTargets struct {
	Kernel, Initrd *url.URL
	Cmdline        string // the kernel line after its URL, variables expanded
}

// parseBootScript reads the kernel and initrd lines of an iPXE script as
// iPXE would for a node with this MAC: only the ${netX/mac:hexhyp} variable
// that both scripts use is expanded, and any other variable is an error, so
// that a script this simulator does not understand is not taken for one
// it does.
func parseBootScript(script string, mac net.HardwareAddr) (bootTargets, error) {
	var t bootTargets
	lines := strings.Split(strings.ReplaceAll(script, "\r\n", "\n"), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "#!ipxe" {
		return t, errors.New(`boot script does not start with "#!ipxe"`)
	}
	hexhyp := strings.ReplaceAll(mac.String(), ":", "-")
	for _, line := range lines[1:] {
		line = strings.TrimSpace(strings.ReplaceAll(line, "${netX/mac:hexhyp}", hexhyp))
		if strings.Contains(line, "${") {
			return t, fmt.Errorf("boot script line %q has a variable this simulator does not expand", line)
		}
		cmd, rest, _ := strings.Cut(line, " ")
		if cmd != "kernel" && cmd != "initrd" {
			continue
		}
		target, args, _ := strings.Cut(strings.TrimSpace(rest), " ")
		u, err := url.Parse(target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "tftp") || u.Host == "" {
			return t, fmt.Errorf("boot script: %s %q is not an http:// or tftp:// URL", cmd, target)
		}
		if cmd == "kernel" {
			t.Kernel, t.Cmdline = u, strings.TrimSpace(args)
		} else {
			t.Initrd = u
		}
	}
	if t.Kernel == nil || t.Initrd == nil {
		return t, errors.New("boot script names no kernel or no initrd")
	}
	return t, nil
}
