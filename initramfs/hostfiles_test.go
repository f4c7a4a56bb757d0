package initramfs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A tree on the host with a program that needs libc, a directory with a
// part to leave out, and symlinks, resolved as a profile would.
func TestResolveHostFiles(t *testing.T) {
	dir := t.TempDir()
	mustWrite := func(rel, content string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	// A real dynamically linked program, copied so the test owns it.
	prog, err := os.ReadFile("/usr/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite("bin/tool-1.2", string(prog), 0o755)
	if err := os.Symlink("tool-1.2", filepath.Join(dir, "bin/tool")); err != nil {
		t.Fatal(err)
	}
	mustWrite("lib/std/os.py", "import sys\n", 0o644)
	mustWrite("lib/std/__pycache__/os.pyc", "stale", 0o644)
	mustWrite("lib/std/test/test_os.py", "", 0o644)
	mustWrite("lib/std/json/__init__.py", "", 0o644)
	mustWrite("etc/a.conf", "a", 0o644)
	mustWrite("etc/b.conf", "b", 0o644)
	mustWrite("etc/c.txt", "c", 0o644)

	pairs, err := resolveHostFiles([]HostFile{
		{Host: dir + "/bin/tool", Program: true, Line: 1},
		{Host: dir + "/lib/std", Line: 2},
		{Host: dir + "/etc/*.conf", Line: 3},
		{Host: dir + "/etc/c.txt", Image: "/etc/renamed.txt", Line: 4},
	}, []string{"__pycache__", dir + "/lib/std/test"})
	if err != nil {
		t.Fatal(err)
	}
	img := func(host string) string { return host + ":" + strings.TrimPrefix(host, "/") }
	want := []string{
		img(dir + "/bin/tool"), img(dir + "/bin/tool-1.2"),
		img(dir + "/lib/std/os.py"), img(dir + "/lib/std/json/__init__.py"),
		img(dir + "/etc/a.conf"), img(dir + "/etc/b.conf"),
		dir + "/etc/c.txt:etc/renamed.txt",
	}
	for _, w := range want {
		if !slices.Contains(pairs, w) {
			t.Errorf("resolved files lack %s", w)
		}
	}
	for _, p := range pairs {
		if strings.Contains(p, "__pycache__") || strings.Contains(p, "/test/") || strings.Contains(p, "etc/c.txt:etc/c.txt") {
			t.Errorf("resolved files have %s, which should be left out", p)
		}
	}
	// The program's libc and the dynamic loader, at their host paths.
	var libc, loader bool
	for _, p := range pairs {
		host, _, _ := strings.Cut(p, ":")
		libc = libc || strings.HasSuffix(host, "/libc.so.6")
		loader = loader || strings.Contains(host, "/ld-linux-x86-64.so.2")
	}
	if !libc || !loader {
		t.Errorf("the program's libc (%v) or loader (%v) is missing from %q", libc, loader, pairs)
	}
	var images []string
	for _, p := range pairs {
		_, image, _ := strings.Cut(p, ":")
		images = append(images, image)
	}
	if !slices.IsSorted(images) {
		t.Error("resolved files are not sorted by image path: the build would depend on map order")
	}
}

func TestResolveHostFilesErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "data"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		files []HostFile
		want  string
	}{
		{[]HostFile{{Host: dir + "/missing", Line: 3}}, "line 3: "},
		{[]HostFile{{Host: dir + "/*.none", Line: 4}}, "line 4: " + dir + "/*.none matches no file"},
		{[]HostFile{{Host: dir + "/data", Program: true, Line: 5}}, "line 5: program " + dir + "/data is not an executable"},
		{[]HostFile{{Host: dir + "/data", Image: "/x", Line: 1}, {Host: dir + "/other", Image: "/x", Line: 2}}, "line 2: " + dir + "/data and " + dir + "/other both want to be /x"},
	} {
		_, err := resolveHostFiles(tc.files, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("resolveHostFiles(%+v) = %v, want an error with %q", tc.files, err, tc.want)
		}
	}
}
