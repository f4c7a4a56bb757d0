package initramfs

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/u-root/mkuimage/ldd"
)

// hostFileSet is the host files an image takes, by image path.
type hostFileSet struct {
	byImage  map[string]string // image path (absolute) -> host path
	excludes []string
}

// resolveHostFiles expands a profile's files into what the image holds:
// globs expanded, directories walked (less the excluded paths), symlinks
// kept as symlinks with what they point to added too, and for every dynamic
// ELF file (programs, shared objects such as Python's extension modules)
// the shared libraries it needs and the dynamic loader, found by running
// the host's loader as ldd does (mkuimage's ldd package). Libraries land
// at their host paths, where the loader looks for them.
//
// It returns mkuimage's "host:image" pairs, sorted.
func resolveHostFiles(files []HostFile, excludes []string) ([]string, error) {
	s := &hostFileSet{byImage: map[string]string{}, excludes: excludes}
	for _, f := range files {
		if err := s.addDeclared(f); err != nil {
			return nil, fmt.Errorf("line %d: %w", f.Line, err)
		}
	}
	if err := s.addLibraries(); err != nil {
		return nil, err
	}
	var pairs []string
	for _, img := range slices.Sorted(maps.Keys(s.byImage)) {
		pairs = append(pairs, s.byImage[img]+":"+strings.TrimPrefix(img, "/"))
	}
	return pairs, nil
}

// addDeclared adds one file or program line of a profile.
func (s *hostFileSet) addDeclared(f HostFile) error {
	hosts := []string{f.Host}
	if isGlob(f.Host) {
		matches, err := filepath.Glob(f.Host)
		if err != nil {
			return err
		}
		hosts = slices.DeleteFunc(matches, s.excluded)
		if len(hosts) == 0 {
			return fmt.Errorf("%s matches no file on this host", f.Host)
		}
	}
	for _, host := range hosts {
		if f.Program {
			if err := checkProgram(host); err != nil {
				return err
			}
		}
		image := f.Image
		if image == "" {
			image = host
		}
		if err := s.addTree(host, image); err != nil {
			return err
		}
	}
	return nil
}

// checkProgram makes sure host is (or links to) an executable file.
func checkProgram(host string) error {
	info, err := os.Stat(host)
	if err != nil {
		return fmt.Errorf("program: %w", err)
	}
	if !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("program %s is not an executable file", host)
	}
	return nil
}

// addTree adds host at image: a file, a symlink (and what it points to) or
// a directory with everything in it that is not excluded.
func (s *hostFileSet) addTree(host, image string) error {
	info, err := os.Lstat(host)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return s.addFile(host, image, info)
	}
	return filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != host && s.excluded(p) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil // directories come with their files
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(host, p)
		return s.addFile(p, path.Join(image, filepath.ToSlash(rel)), info)
	})
}

// addFile adds one non-directory; a symlink brings its target along, at the
// target's host path, unless the target is a directory (a profile names the
// directories it wants).
func (s *hostFileSet) addFile(host, image string, info fs.FileInfo) error {
	if err := s.put(host, image); err != nil {
		return err
	}
	if info.Mode()&fs.ModeSymlink == 0 {
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s is neither a file, a directory nor a symlink", host)
		}
		return nil
	}
	target, err := os.Readlink(host)
	if err != nil {
		return err
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(host), target)
	}
	tinfo, err := os.Lstat(target)
	if err != nil {
		return fmt.Errorf("%s links to %s: %w", host, target, err)
	}
	if tinfo.IsDir() || s.excluded(target) {
		return nil
	}
	if _, ok := s.byImage[target]; ok {
		return nil // already in, also ends link cycles
	}
	return s.addFile(target, target, tinfo)
}

// put records that image is host, refusing two different files at one path.
func (s *hostFileSet) put(host, image string) error {
	if reservedImagePath(image) {
		return fmt.Errorf("%s would replace the agent's %s", host, image)
	}
	if prev, ok := s.byImage[image]; ok && prev != host {
		return fmt.Errorf("%s and %s both want to be %s in the image", prev, host, image)
	}
	s.byImage[image] = host
	return nil
}

// excluded reports whether host matches an exclude pattern: a pattern with
// a "/" is matched against the whole path, one without against the last
// element, so "__pycache__" leaves out every such directory.
func (s *hostFileSet) excluded(host string) bool {
	for _, pat := range s.excludes {
		subject := host
		if !strings.Contains(pat, "/") {
			subject = path.Base(host)
		}
		if ok, _ := path.Match(pat, subject); ok {
			return true
		}
	}
	return false
}

// addLibraries adds the shared libraries of every dynamic ELF file in the
// set, and what those libraries' symlinks point to.
func (s *hostFileSet) addLibraries() error {
	var libs []string
	for _, host := range slices.Compact(slices.Sorted(maps.Values(s.byImage))) {
		if !isDynamicELF(host) {
			continue
		}
		deps, err := ldd.FList(host)
		if err != nil {
			return fmt.Errorf("shared libraries of %s: %w", host, err)
		}
		libs = append(libs, deps...)
	}
	for _, lib := range libs {
		if _, ok := s.byImage[lib]; ok {
			continue
		}
		// FList has followed the symlinks already: add each as it is.
		if err := s.put(lib, lib); err != nil {
			return err
		}
	}
	return nil
}

// isDynamicELF reports whether p is a regular ELF file that needs the
// dynamic loader: a dynamically linked program or a shared object.
func isDynamicELF(p string) bool {
	info, err := os.Lstat(p)
	if err != nil || !info.Mode().IsRegular() {
		return false
	}
	f, err := elf.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return false // object files (crt1.o), kernel modules
	}
	needed, _ := f.DynString(elf.DT_NEEDED)
	return len(needed) > 0
}
