package initramfs

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Where Debian's linux-image packages put the kernel and its modules.
const (
	hostBootDir     = "/boot"
	hostModulesRoot = "/lib/modules"
)

// kernelRelease picks the kernel release to build for: the one asked for,
// or the newest one installed with both a vmlinuz and a module tree.
func kernelRelease(bootDir, modulesRoot, asked string) (string, error) {
	if asked != "" {
		return asked, checkKernelInstalled(bootDir, modulesRoot, asked)
	}
	kernels, err := filepath.Glob(filepath.Join(bootDir, "vmlinuz-*"))
	if err != nil {
		return "", err
	}
	var releases []string
	for _, k := range kernels {
		release := strings.TrimPrefix(filepath.Base(k), "vmlinuz-")
		if checkKernelInstalled(bootDir, modulesRoot, release) == nil {
			releases = append(releases, release)
		}
	}
	if len(releases) == 0 {
		return "", fmt.Errorf("no kernel with modules in %s and %s (apt-get install linux-image-amd64)", bootDir, modulesRoot)
	}
	return slices.MaxFunc(releases, compareReleases), nil
}

func checkKernelInstalled(bootDir, modulesRoot, release string) error {
	for _, p := range []string{
		filepath.Join(bootDir, "vmlinuz-"+release),
		filepath.Join(modulesRoot, release, "modules.dep"),
	} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("kernel %s is not fully installed: %w", release, err)
		}
	}
	return nil
}

// compareReleases orders kernel releases with their numbers compared as
// numbers, so 6.1.0-9-amd64 comes before 6.1.0-10-amd64 and 6.10.0-1-amd64.
func compareReleases(a, b string) int {
	for a != "" && b != "" {
		var runA, runB string
		runA, a = cutRun(a)
		runB, b = cutRun(b)
		if c := compareRuns(runA, runB); c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}

// compareRuns compares two runs as numbers when both are digits, else as text.
func compareRuns(a, b string) int {
	na, errA := strconv.Atoi(a)
	nb, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return cmp.Compare(na, nb)
	}
	return strings.Compare(a, b)
}

// cutRun splits s after its leading run of digits or of non-digits.
func cutRun(s string) (run, rest string) {
	digit := unicode.IsDigit(rune(s[0]))
	i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsDigit(r) != digit })
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}
