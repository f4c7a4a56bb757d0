package initramfs

import (
	"debug/elf"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"github.com/u-root/mkuimage/uimage"
)

// hostBusybox is where Debian's busybox-static package installs its binary.
// Tasks are shell commands, so the image needs /bin/sh and the usual tools;
// a static busybox brings both in one file with no libraries to copy.
const hostBusybox = "/bin/busybox"

// withBusybox adds the busybox binary at /bin/busybox and a /bin/<applet>
// symlink to it for every applet it was built with, /bin/sh included.
func withBusybox(busybox string) ([]uimage.Modifier, error) {
	if err := checkStatic(busybox); err != nil {
		return nil, err
	}
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("listing busybox applets: %w", err)
	}
	applets := strings.Fields(string(out))
	if !slices.Contains(applets, "sh") {
		return nil, fmt.Errorf("%s has no sh applet; tasks need /bin/sh", busybox)
	}
	mods := []uimage.Modifier{uimage.WithFiles(busybox + ":bin/busybox")}
	for _, applet := range applets {
		if applet == "busybox" {
			continue // the binary itself, not a link
		}
		mods = append(mods, uimage.WithSymlink("bin/"+applet, "/bin/busybox"))
	}
	return mods, nil
}

// checkStatic makes sure the binary needs no dynamic loader: the image
// carries no libraries, and Debian's plain busybox package is dynamic.
func checkStatic(binary string) error {
	f, err := elf.Open(binary)
	if err != nil {
		return fmt.Errorf("%w (apt-get install busybox-static)", err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; apt-get install busybox-static", binary)
		}
	}
	return nil
}
