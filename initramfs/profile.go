package initramfs

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
)

// A Profile says what goes into an initramfs besides the agent, which every
// image has as /init. Profiles are small text files, one directive a line
// (images/profiles/*.profile; the format is described in images/README.md):
//
//	# a comment
//	description code jobs in Python and C
//	include tools
//	busybox
//	uroot ls cat
//	program /usr/bin/python3
//	file /usr/lib/python3.11
//	file /etc/ssl/certs/ca-certificates.crt /etc/ssl/cert.pem
//	exclude __pycache__
//	module ixgbevf
type Profile struct {
	Name        string
	Description string
	Includes    []string   // profiles whose content this one adds to
	Busybox     bool       // the host's static busybox, its applets linked in /bin
	URoot       []string   // u-root core commands, built into /bbin/bb
	Files       []HostFile // host files, directories and programs
	Excludes    []string   // patterns of host paths left out of Files' directories
	Modules     []string   // extra kernel modules for the Debian kernel
}

// HostFile is a file, directory or program copied from the build host.
type HostFile struct {
	Host    string // absolute host path; for file, it may be a glob
	Image   string // absolute path in the image; "" means the host path
	Program bool   // must be an executable
	Line    int    // where it was declared, for error messages
}

// ProfileExt is the file name extension of profile files.
const ProfileExt = ".profile"

// profileName is what a profile may be called: it becomes part of a file
// name (ramfarm-node-NAME.cpio.lz4) and of kernel command lines.
var profileName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// urootCommand is a u-root core command's name (a directory in cmds/core).
var urootCommand = regexp.MustCompile(`^[a-z0-9][a-z0-9_]{0,31}$`)

// moduleNameRE is a kernel module's name as modules.alias spells it.
var moduleNameRE = regexp.MustCompile(`^[a-zA-Z0-9_]{1,64}$`)

// ValidProfileName reports whether name can name a profile.
func ValidProfileName(name string) bool { return profileName.MatchString(name) }

// ParseProfile reads a profile named name from r. Every mistake is an error
// that names the file and line.
func ParseProfile(name string, r io.Reader) (*Profile, error) {
	if !ValidProfileName(name) {
		return nil, fmt.Errorf("profile name %q: want 1-32 of a-z, 0-9, _ and -, starting with a letter or digit", name)
	}
	p := &Profile{Name: name}
	s := bufio.NewScanner(r)
	seen := map[string]int{} // directive "busybox", "description": line
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := p.parseLine(line, n, seen); err != nil {
			return nil, fmt.Errorf("%s%s:%d: %w", name, ProfileExt, n, err)
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("%s%s: %w", name, ProfileExt, err)
	}
	return p, nil
}

func (p *Profile) parseLine(line string, n int, seen map[string]int) error {
	for _, c := range line {
		if c < ' ' && c != '\t' || c == 0x7f {
			return fmt.Errorf("control character %q", c)
		}
	}
	fields := strings.Fields(line)
	directive, args := fields[0], fields[1:]
	rest := strings.TrimSpace(line[len(directive):])
	once := func() error {
		if prev, ok := seen[directive]; ok {
			return fmt.Errorf("%s given twice (first on line %d)", directive, prev)
		}
		seen[directive] = n
		return nil
	}
	switch directive {
	case "description":
		if rest == "" {
			return fmt.Errorf("description needs text")
		}
		p.Description = rest
		return once()
	case "include":
		if len(args) != 1 || !ValidProfileName(args[0]) {
			return fmt.Errorf("include needs one profile name, got %q", rest)
		}
		if args[0] == p.Name {
			return fmt.Errorf("a profile cannot include itself")
		}
		p.Includes = append(p.Includes, args[0])
	case "busybox":
		if len(args) != 0 {
			return fmt.Errorf("busybox takes no arguments, got %q", rest)
		}
		p.Busybox = true
		return once()
	case "uroot":
		if err := checkNames(directive, "command", args, urootCommand); err != nil {
			return err
		}
		p.URoot = append(p.URoot, args...)
	case "program", "file":
		if len(args) < 1 || len(args) > 2 {
			return fmt.Errorf("%s needs a host path and optionally an image path, got %q", directive, rest)
		}
		f := HostFile{Host: args[0], Program: directive == "program", Line: n}
		if len(args) == 2 {
			f.Image = args[1]
		}
		if err := checkHostFile(f); err != nil {
			return fmt.Errorf("%s: %w", directive, err)
		}
		p.Files = append(p.Files, f)
	case "exclude":
		if len(args) != 1 {
			return fmt.Errorf("exclude needs one pattern, got %q", rest)
		}
		if _, err := path.Match(args[0], ""); err != nil {
			return fmt.Errorf("exclude: bad pattern %q: %w", args[0], err)
		}
		p.Excludes = append(p.Excludes, args[0])
	case "module":
		if err := checkNames(directive, "module", args, moduleNameRE); err != nil {
			return err
		}
		p.Modules = append(p.Modules, args...)
	default:
		return fmt.Errorf("unknown directive %q (want description, include, busybox, uroot, program, file, exclude or module)", directive)
	}
	return nil
}

// checkNames checks a directive's list of names (commands, modules).
func checkNames(directive, kind string, names []string, valid *regexp.Regexp) error {
	if len(names) == 0 {
		return fmt.Errorf("%s needs %s names", directive, kind)
	}
	for _, n := range names {
		if !valid.MatchString(n) {
			return fmt.Errorf("%s: %q is not a %s name", directive, n, kind)
		}
	}
	return nil
}

// checkHostFile checks the paths of a file or program line.
func checkHostFile(f HostFile) error {
	if !path.IsAbs(f.Host) || path.Clean(f.Host) != f.Host {
		return fmt.Errorf("host path %q must be absolute and clean", f.Host)
	}
	if _, err := path.Match(f.Host, ""); err != nil {
		return fmt.Errorf("host path %q: %w", f.Host, err)
	}
	if f.Image == "" {
		return nil
	}
	if !path.IsAbs(f.Image) || path.Clean(f.Image) != f.Image || f.Image == "/" {
		return fmt.Errorf("image path %q must be absolute, clean and not /", f.Image)
	}
	if isGlob(f.Host) {
		return fmt.Errorf("a glob (%s) cannot have an image path: its files keep their host paths", f.Host)
	}
	if reservedImagePath(f.Image) {
		return fmt.Errorf("image path %s belongs to the agent", f.Image)
	}
	return nil
}

func isGlob(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// reservedImagePath reports whether an image path would replace what the
// agent needs to boot.
func reservedImagePath(p string) bool {
	for _, r := range []string{"/init", "/bin/ramfarm-agent", "/" + imageInfoPath} {
		if p == r {
			return true
		}
	}
	return false
}
