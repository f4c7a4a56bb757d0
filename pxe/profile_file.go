package pxe

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"unicode"
)

// A boot profiles file (ramfarm serve --boot-profiles) says which kernel,
// initramfs and command line each node boots. docs/operations.md describes
// it; in short:
//
//	# comment
//	[profile tools]
//	kernel  = vmlinuz
//	initrd  = ramfarm-tools.cpio.lz4
//	cmdline = console=ttyS0 quiet
//
//	[group rack2]
//	profile = tools
//	macs    = 52:54:00:77:00:01, 52:54:00:77:00:02
//
//	[node 52:54:00:77:00:03]
//	profile = tools
//
// A node's own section wins over its group, its group over the profile named
// "default", which, if the file has none, is the fallback given to
// LoadProfiles (the --kernel, --initrd and --cmdline flags).

// LoadProfiles reads a boot profiles file.
func LoadProfiles(path string, fallback Profile) (*ProfileTable, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("boot profiles: %w", err)
	}
	return ParseProfiles(path, src, fallback)
}

// ParseProfiles parses the text of a boot profiles file; filename only
// labels the errors, one per mistake, each with its line number.
func ParseProfiles(filename string, src []byte, fallback Profile) (*ProfileTable, error) {
	p := &profileParser{
		file:     filename,
		table:    &ProfileTable{profiles: map[string]Profile{}, nodes: map[string]string{}, groupOf: map[string]string{}, groups: map[string]string{}},
		sections: map[string]int{},
		macs:     map[string]macListing{},
	}
	for i, line := range strings.Split(string(src), "\n") {
		p.parseLine(i+1, strings.TrimSpace(line))
	}
	p.endSection()
	p.resolveReferences()
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	if _, ok := p.table.profiles[DefaultProfile]; !ok {
		fallback.Name = DefaultProfile
		p.table.profiles[DefaultProfile] = fallback
	}
	return p.table, nil
}

// Section kinds.
const (
	sectionProfile = "profile"
	sectionGroup   = "group"
	sectionNode    = "node"
)

type profileParser struct {
	file  string
	errs  []error
	table *ProfileTable

	sections map[string]int        // "kind name" -> line of its header
	macs     map[string]macListing // MAC -> the group that lists it
	refs     []profileRef          // "profile = NAME" lines, checked at the end
	cur      *section              // nil before the first header
}

// section is the one being read.
type section struct {
	kind, name string
	line       int
	keys       map[string]int // key -> line it was set on
	profile    Profile        // of a [profile] section
	uses       string         // the profile = of a [group] or [node]
}

type macListing struct {
	group string
	line  int
}

type profileRef struct {
	name string
	line int
}

func (p *profileParser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s:%d: %s", p.file, line, fmt.Sprintf(format, args...)))
}

func (p *profileParser) parseLine(n int, line string) {
	switch {
	case line == "" || strings.HasPrefix(line, "#"):
	case strings.HasPrefix(line, "["):
		p.endSection()
		p.startSection(n, line)
	default:
		key, value, ok := strings.Cut(line, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case !ok || key == "":
			p.errorf(n, "want key = value or [section], got %q", line)
		case p.cur == nil:
			p.errorf(n, "%s = ... before the first [profile NAME], [group NAME] or [node MAC] section", key)
		default:
			p.setKey(n, key, value)
		}
	}
}

func (p *profileParser) startSection(n int, line string) {
	inner, ok := strings.CutSuffix(line, "]")
	words := strings.Fields(strings.TrimPrefix(inner, "["))
	if !ok || len(words) != 2 {
		p.errorf(n, "want [profile NAME], [group NAME] or [node MAC], got %q", line)
		p.cur = &section{line: n, keys: map[string]int{}} // swallow its keys quietly
		return
	}
	kind, name := words[0], words[1]
	s := &section{kind: kind, name: name, line: n, keys: map[string]int{}}
	switch kind {
	case sectionProfile:
		if err := checkProfileName(name); err != nil {
			p.errorf(n, "%v", err)
		}
		s.profile.Name = name
	case sectionGroup:
		if err := checkProfileName(name); err != nil {
			p.errorf(n, "group name %q: like profile names, want 1 to 64 letters, digits, '.', '_' or '-'", name)
		}
	case sectionNode:
		mac, err := net.ParseMAC(name)
		if err != nil {
			p.errorf(n, "node %q: not a MAC address", name)
		} else {
			s.name = mac.String()
		}
	default:
		p.errorf(n, "unknown section kind %q: want profile, group or node", kind)
		s.kind = ""
	}
	id := s.kind + " " + s.name
	if first, dup := p.sections[id]; dup && s.kind != "" {
		p.errorf(n, "%s %s is already defined on line %d", s.kind, s.name, first)
	} else {
		p.sections[id] = n
	}
	p.cur = s
}

// keysOf lists the keys each section kind takes.
var keysOf = map[string][]string{
	sectionProfile: {"kernel", "initrd", "cmdline"},
	sectionGroup:   {"profile", "macs"},
	sectionNode:    {"profile"},
}

func (p *profileParser) setKey(n int, key, value string) {
	s := p.cur
	if s.kind == "" {
		return // a bad header, reported already
	}
	known := keysOf[s.kind]
	if !slices.Contains(known, key) {
		p.errorf(n, "unknown key %q in [%s %s]: want one of %s", key, s.kind, s.name, strings.Join(known, ", "))
		return
	}
	if first, dup := s.keys[key]; dup && key != "macs" { // long MAC lists may take several lines
		p.errorf(n, "%s is already set on line %d", key, first)
		return
	}
	s.keys[key] = n
	var err error
	switch key {
	case "kernel":
		s.profile.Kernel, err = value, checkBootFile(key, value)
	case "initrd":
		s.profile.Initrd, err = value, checkBootFile(key, value)
	case "cmdline":
		s.profile.Cmdline, err = value, checkCmdline(value)
	case "profile":
		s.uses = value
		p.refs = append(p.refs, profileRef{value, n})
	case "macs":
		p.listMACs(n, s.name, value)
	}
	if err != nil {
		p.errorf(n, "%v", err)
	}
}

// listMACs adds the MACs of one macs = line to group.
func (p *profileParser) listMACs(n int, group, value string) {
	list := strings.FieldsFunc(value, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if len(list) == 0 {
		p.errorf(n, "macs = lists no MAC addresses")
	}
	for _, word := range list {
		mac, err := net.ParseMAC(word)
		if err != nil {
			p.errorf(n, "%q is not a MAC address", word)
			continue
		}
		key := mac.String()
		if first, dup := p.macs[key]; dup {
			p.errorf(n, "MAC %s is already in group %s (line %d): a node belongs to one group", key, first.group, first.line)
			continue
		}
		p.macs[key] = macListing{group, n}
		p.table.groupOf[key] = group
	}
}

// endSection checks that the section being read is complete and files it.
func (p *profileParser) endSection() {
	s := p.cur
	if s == nil {
		return
	}
	p.cur = nil
	switch s.kind {
	case sectionProfile:
		for _, key := range []string{"kernel", "initrd"} {
			if _, ok := s.keys[key]; !ok {
				p.errorf(s.line, "profile %s has no %s", s.name, key)
			}
		}
		p.table.profiles[s.name] = s.profile
	case sectionGroup, sectionNode:
		if _, ok := s.keys["profile"]; !ok {
			p.errorf(s.line, "%s %s says no profile = NAME", s.kind, s.name)
			return
		}
		if s.kind == sectionGroup {
			p.table.groups[s.name] = s.uses
		} else {
			p.table.nodes[s.name] = s.uses
		}
	}
}

// resolveReferences checks that every profile = names a profile the file
// defines, or the default, which is always there.
func (p *profileParser) resolveReferences() {
	for _, ref := range p.refs {
		if _, ok := p.table.profiles[ref.name]; !ok && ref.name != DefaultProfile {
			p.errorf(ref.line, "profile %q is not defined in this file", ref.name)
		}
	}
}
