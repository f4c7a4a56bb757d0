package initramfs

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCompareReleasesOrdersNumbersAsNumbers(t *testing.T) {
	ordered := []string{"5.10.0-30-amd64", "6.1.0-9-amd64", "6.1.0-10-amd64", "6.1.0-56-amd64", "6.10.0-1-amd64"}
	for i := range len(ordered) - 1 {
		a, b := ordered[i], ordered[i+1]
		if compareReleases(a, b) >= 0 || compareReleases(b, a) <= 0 {
			t.Errorf("%s should sort before %s", a, b)
		}
	}
	if compareReleases("6.1.0-9-amd64", "6.1.0-9-amd64") != 0 {
		t.Error("a release should equal itself")
	}
}

func TestKernelReleasePicksNewestWithModules(t *testing.T) {
	boot, modules := t.TempDir(), t.TempDir()
	for _, release := range []string{"6.1.0-9-amd64", "6.1.0-10-amd64", "6.1.0-11-amd64"} {
		touch(t, filepath.Join(boot, "vmlinuz-"+release))
	}
	// 6.1.0-11 has no module tree: it is half removed and cannot be used.
	for _, release := range []string{"6.1.0-9-amd64", "6.1.0-10-amd64"} {
		touch(t, filepath.Join(modules, release, "modules.dep"))
	}

	got, err := kernelRelease(boot, modules, "")
	if err != nil || got != "6.1.0-10-amd64" {
		t.Errorf("kernelRelease = %q, %v; want 6.1.0-10-amd64", got, err)
	}
	if got, err := kernelRelease(boot, modules, "6.1.0-9-amd64"); err != nil || got != "6.1.0-9-amd64" {
		t.Errorf("asking for 6.1.0-9-amd64 gave %q, %v", got, err)
	}
	if _, err := kernelRelease(boot, modules, "6.1.0-11-amd64"); err == nil {
		t.Error("asking for a kernel without modules succeeded")
	}
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
