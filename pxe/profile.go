package pxe

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/ramfarm/ramfarm/protocol"
)

// DefaultProfile names the profile of every node a BootPolicy has no other
// word for.
const DefaultProfile = "default"

// Profile is what a node boots: a kernel and an initramfs from BootDir, and
// the kernel command line. The dispatcher's own arguments (Config's
// ExtraCmdline), ramfarm.profile=Name and BOOTIF follow Cmdline on the
// node's command line.
type Profile struct {
	Name    string
	Kernel  string // file name inside BootDir
	Initrd  string // file name inside BootDir
	Cmdline string
}

// BootPolicy decides what each node boots (Pixiecore's Booter, cut down to
// what an iPXE script needs).
type BootPolicy interface {
	// ProfileFor returns the profile of the node with this MAC, and why it
	// was chosen, for the log. It never fails: a nil or unknown MAC gets
	// the default profile, so that no node is left unbootable.
	ProfileFor(mac net.HardwareAddr) (p Profile, why string)
	// Profiles lists every profile ProfileFor can return, so that all of
	// them are checked when the server starts, not when a node boots.
	Profiles() []Profile
}

// ProfileTable is a BootPolicy from a table: a node's own entry wins over
// its group's, and a group's over the default profile. LoadProfiles builds
// one from a file; SingleProfile one without any MACs.
type ProfileTable struct {
	profiles map[string]Profile // by name; always holds DefaultProfile
	nodes    map[string]string  // MAC (net.HardwareAddr.String) -> profile
	groupOf  map[string]string  // MAC -> group
	groups   map[string]string  // group -> profile
}

// SingleProfile is the policy that boots every node with the same files:
// the "default" profile.
func SingleProfile(kernel, initrd, cmdline string) *ProfileTable {
	return &ProfileTable{
		profiles: map[string]Profile{DefaultProfile: {Name: DefaultProfile, Kernel: kernel, Initrd: initrd, Cmdline: cmdline}},
		nodes:    map[string]string{},
		groupOf:  map[string]string{},
		groups:   map[string]string{},
	}
}

// ProfileFor picks by MAC, then by group, then the default.
func (t *ProfileTable) ProfileFor(mac net.HardwareAddr) (Profile, string) {
	if len(mac) > 0 {
		key := mac.String()
		if name, ok := t.nodes[key]; ok {
			return t.profiles[name], "node entry"
		}
		if group, ok := t.groupOf[key]; ok {
			return t.profiles[t.groups[group]], "group " + group
		}
	}
	return t.profiles[DefaultProfile], "default"
}

// Profiles returns every profile, by name.
func (t *ProfileTable) Profiles() []Profile {
	out := make([]Profile, 0, len(t.profiles))
	for _, p := range t.profiles {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Profile) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// validate checks what a profile holds without looking at the disk.
func (p Profile) validate() error {
	return errors.Join(
		checkProfileName(p.Name),
		checkBootFile("kernel", p.Kernel),
		checkBootFile("initrd", p.Initrd),
		checkCmdline(p.Cmdline),
	)
}

// checkFiles checks that the profile's kernel and initramfs are regular
// files in bootDir: a typo in a profile fails the start, not a node's boot.
func (p Profile) checkFiles(bootDir *os.Root) error {
	var errs []error
	for _, f := range []struct{ what, name string }{{"kernel", p.Kernel}, {"initrd", p.Initrd}} {
		file, _, err := openFile(bootDir, f.name)
		if err != nil {
			errs = append(errs, fmt.Errorf("boot profile %q: %s %q: %w", p.Name, f.what, f.name, err))
			continue
		}
		file.Close()
	}
	return errors.Join(errs...)
}

func checkProfileName(name string) error {
	if !protocol.ValidProfileName(name) {
		return fmt.Errorf("profile name %q is not 1 to %d letters, digits, '.', '_' or '-'", name, protocol.MaxProfileName)
	}
	return nil
}

func checkBootFile(what, name string) error {
	if !isBootFileName(name) {
		return fmt.Errorf("%s %q is not a plain relative file name (letters, digits, . _ - + /)", what, name)
	}
	return nil
}

func checkCmdline(cmdline string) error {
	// The command line becomes one line of the iPXE script.
	if strings.ContainsFunc(cmdline, isControl) {
		return errors.New("cmdline contains a tab, line break or other control character")
	}
	return nil
}

// checkProfiles adds to p what is wrong with the profiles of c.Profiles
// and with c.ExtraCmdline. Kernel, Initrd and Cmdline, the default when
// Profiles is nil, Validate checks itself.
func (c *Config) checkProfiles(p *problems) {
	if err := checkCmdline(c.ExtraCmdline); err != nil {
		p.check(false, "ExtraCmdline: %v", err)
	}
	if c.Profiles == nil {
		return
	}
	for _, prof := range c.Profiles.Profiles() {
		if err := prof.validate(); err != nil {
			p.check(false, "boot profile %q: %v", prof.Name, err)
		}
	}
}

// bootPolicy is c.Profiles, or the single profile made of Kernel, Initrd
// and Cmdline when the Config names none.
func (c *Config) bootPolicy() BootPolicy {
	if c.Profiles != nil {
		return c.Profiles
	}
	return SingleProfile(c.Kernel, c.Initrd, c.Cmdline)
}
