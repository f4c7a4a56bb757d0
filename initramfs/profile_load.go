package initramfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultProfile is the profile built when none is named: what the
// end-to-end test, the demo and the benchmarks boot.
const DefaultProfile = "minimal"

// BuiltinProfileDir is where the built-in profiles live, relative to the
// repository root.
const BuiltinProfileDir = "images/profiles"

// InitrdFileName is the initramfs file of a profile in the output
// directory. The default profile keeps the name the image always had, so
// the dispatcher's default --initrd and everything that boots it still
// find it; any other profile P is ramfarm-node-P.cpio.lz4.
func InitrdFileName(profile string) string {
	if profile == DefaultProfile {
		return InitrdName
	}
	return "ramfarm-node-" + profile + InitrdExt
}

// LoadProfile reads the profile ref and everything it includes, merged into
// one. ref is a profile name, looked up as NAME.profile in each of dirs in
// order (user directories first, the built-in one last, so a user can
// replace a built-in profile), or a path to a .profile file (it contains a
// "/"), whose own directory is then searched first for its includes.
func LoadProfile(dirs []string, ref string) (*Profile, error) {
	if strings.Contains(ref, "/") {
		name := strings.TrimSuffix(filepath.Base(ref), ProfileExt)
		if filepath.Ext(ref) != ProfileExt {
			return nil, fmt.Errorf("profile file %s: the name must end in %s", ref, ProfileExt)
		}
		dirs = append([]string{filepath.Dir(ref)}, dirs...)
		ref = name
	}
	return loadMerged(dirs, ref, nil)
}

// loadMerged loads name and merges its includes into it, depth first; chain
// is the include path that led here, to report cycles.
func loadMerged(dirs []string, name string, chain []string) (*Profile, error) {
	if slices.Contains(chain, name) {
		return nil, fmt.Errorf("profiles include each other: %s", strings.Join(append(chain, name), " -> "))
	}
	p, err := readProfile(dirs, name)
	if err != nil {
		return nil, err
	}
	merged := &Profile{Name: p.Name, Description: p.Description, Includes: p.Includes}
	for _, inc := range p.Includes {
		sub, err := loadMerged(dirs, inc, append(chain, name))
		if err != nil {
			return nil, fmt.Errorf("%s includes %s: %w", name, inc, err)
		}
		merged.add(sub)
	}
	merged.add(p)
	return merged, nil
}

// add merges q's content into p (not its name, description or includes).
func (p *Profile) add(q *Profile) {
	p.Busybox = p.Busybox || q.Busybox
	p.URoot = appendNew(p.URoot, q.URoot...)
	p.Files = append(p.Files, q.Files...)
	p.Excludes = appendNew(p.Excludes, q.Excludes...)
	p.Modules = appendNew(p.Modules, q.Modules...)
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}

// readProfile parses the first NAME.profile found in dirs.
func readProfile(dirs []string, name string) (*Profile, error) {
	if !ValidProfileName(name) {
		return nil, fmt.Errorf("profile name %q: want 1-32 of a-z, 0-9, _ and -", name)
	}
	for _, dir := range dirs {
		file := filepath.Join(dir, name+ProfileExt)
		f, err := os.Open(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		defer f.Close()
		p, err := ParseProfile(name, f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		return p, nil
	}
	return nil, fmt.Errorf("no profile %q in %s", name, strings.Join(dirs, ", "))
}

// ProfileNames lists the profiles in dirs, sorted, for help texts.
func ProfileNames(dirs ...string) []string {
	var names []string
	for _, dir := range dirs {
		matches, _ := filepath.Glob(filepath.Join(dir, "*"+ProfileExt))
		for _, m := range matches {
			names = appendNew(names, strings.TrimSuffix(filepath.Base(m), ProfileExt))
		}
	}
	slices.Sort(names)
	return names
}
