package kmod

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// index is what depmod wrote for one kernel: which module serves which
// modalias (modules.alias), and where each module's file is and what it
// needs loaded before it (modules.dep).
type index struct {
	aliases []alias
	modules map[string]module
}

type alias struct {
	pattern string // shell glob over a device's modalias
	module  string // normalized module name
}

type module struct {
	file string   // relative to the modules directory, as in modules.dep
	deps []string // normalized names, in modules.dep order
}

func readIndex(dir string) (*index, error) {
	var ix index
	var err error
	if ix.aliases, err = parseFile(filepath.Join(dir, "modules.alias"), parseAliases); err != nil {
		return nil, err
	}
	if ix.modules, err = parseFile(filepath.Join(dir, "modules.dep"), parseDeps); err != nil {
		return nil, err
	}
	return &ix, nil
}

func parseFile[T any](name string, parse func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(name)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		return v, fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
}

// parseAliases reads modules.alias lines: "alias PATTERN MODULE".
// Comments and anything that is not an alias line are skipped.
func parseAliases(r io.Reader) ([]alias, error) {
	var aliases []alias
	s := bufio.NewScanner(r)
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) == 3 && f[0] == "alias" {
			aliases = append(aliases, alias{pattern: f[1], module: normalize(f[2])})
		}
	}
	return aliases, s.Err()
}

// parseDeps reads modules.dep lines: "FILE: DEPFILE DEPFILE...".
func parseDeps(r io.Reader) (map[string]module, error) {
	modules := make(map[string]module)
	s := bufio.NewScanner(r)
	for s.Scan() {
		file, deps, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		m := module{file: file}
		for _, dep := range strings.Fields(deps) {
			m.deps = append(m.deps, nameOf(dep))
		}
		modules[nameOf(file)] = m
	}
	return modules, s.Err()
}

// nameOf turns a module file path into its module name:
// "kernel/drivers/net/virtio_net.ko.xz" -> "virtio_net".
func nameOf(file string) string {
	name, _, _ := strings.Cut(path.Base(file), ".ko")
	return normalize(name)
}

// normalize makes a module name canonical: the kernel treats '-' and '_'
// in module names as the same character.
func normalize(name string) string {
	return strings.ReplaceAll(name, "-", "_")
}

// parseLoaded reads /proc/modules and returns the names of loaded modules.
func parseLoaded(r io.Reader) (map[string]bool, error) {
	loaded := make(map[string]bool)
	s := bufio.NewScanner(r)
	for s.Scan() {
		if name, _, _ := strings.Cut(s.Text(), " "); name != "" {
			loaded[normalize(name)] = true
		}
	}
	return loaded, s.Err()
}
