package initramfs

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseProfileReadsEveryDirective(t *testing.T) {
	src := `# a comment, then a blank line

description  code jobs in C
include minimal
include tools
busybox
uroot ls cat
uroot	grep
program /usr/bin/gcc
file /etc/ssl/certs/ca-certificates.crt /etc/ssl/cert.pem
file /usr/lib/x86_64-linux-gnu/*crt*.o
exclude __pycache__
exclude /usr/lib/python3.11/test
module ixgbevf igbvf
`
	p, err := ParseProfile("cjobs", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	want := &Profile{
		Name:        "cjobs",
		Description: "code jobs in C",
		Includes:    []string{"minimal", "tools"},
		Busybox:     true,
		URoot:       []string{"ls", "cat", "grep"},
		Files: []HostFile{
			{Host: "/usr/bin/gcc", Program: true, Line: 9},
			{Host: "/etc/ssl/certs/ca-certificates.crt", Image: "/etc/ssl/cert.pem", Line: 10},
			{Host: "/usr/lib/x86_64-linux-gnu/*crt*.o", Line: 11},
		},
		Excludes: []string{"__pycache__", "/usr/lib/python3.11/test"},
		Modules:  []string{"ixgbevf", "igbvf"},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", p, want)
	}
}

func TestParseProfileErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct {
		src, want string
	}{
		{"busybox\nfrobnicate x", "p.profile:2: unknown directive \"frobnicate\""},
		{"description", "p.profile:1: description needs text"},
		{"description a\ndescription b", "p.profile:2: description given twice (first on line 1)"},
		{"busybox\n\nbusybox", "p.profile:3: busybox given twice"},
		{"busybox now", "p.profile:1: busybox takes no arguments"},
		{"include", "p.profile:1: include needs one profile name"},
		{"include a b", "p.profile:1: include needs one profile name"},
		{"include ../etc/passwd", "p.profile:1: include needs one profile name"},
		{"include p", "p.profile:1: a profile cannot include itself"},
		{"uroot", "p.profile:1: uroot needs command names"},
		{"uroot ls ../x", `p.profile:1: uroot: "../x" is not a command name`},
		{"program usr/bin/gcc", "p.profile:1: program: host path \"usr/bin/gcc\" must be absolute and clean"},
		{"file /usr/../etc/x", "p.profile:1: file: host path \"/usr/../etc/x\" must be absolute and clean"},
		{"file /a /b /c", "p.profile:1: file needs a host path and optionally an image path"},
		{"file /a b", "p.profile:1: file: image path \"b\" must be absolute"},
		{"file /a /", "p.profile:1: file: image path \"/\" must be absolute, clean and not /"},
		{"file /a/*.o /o", "p.profile:1: file: a glob (/a/*.o) cannot have an image path"},
		{"file /a/[x", "p.profile:1: file: host path \"/a/[x\": syntax error in pattern"},
		{"file /my/agent /init", "p.profile:1: file: image path /init belongs to the agent"},
		{"exclude", "p.profile:1: exclude needs one pattern"},
		{"exclude [", "p.profile:1: exclude: bad pattern"},
		{"module", "p.profile:1: module needs module names"},
		{"module e1000 bad-name", `p.profile:1: module: "bad-name" is not a module name`},
		{"busybox\x01", "p.profile:1: control character"},
	} {
		_, err := ParseProfile("p", strings.NewReader(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseProfile(%q) = %v, want an error with %q", tc.src, err, tc.want)
		}
	}
	if _, err := ParseProfile("Bad Name", strings.NewReader("busybox")); err == nil {
		t.Error("a profile named \"Bad Name\" parsed")
	}
}

func writeProfiles(t *testing.T, dir string, profiles map[string]string) {
	t.Helper()
	for name, src := range profiles {
		if err := os.WriteFile(filepath.Join(dir, name+ProfileExt), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadProfileMergesIncludesAndPrefersUserProfiles(t *testing.T) {
	builtin, user := t.TempDir(), t.TempDir()
	writeProfiles(t, builtin, map[string]string{
		"minimal": "busybox\nmodule e1000\n",
		"tools":   "include minimal\nuroot ls cat\n",
	})
	// The user's tools replaces the built-in one; minimal still comes
	// from the built-in directory.
	writeProfiles(t, user, map[string]string{
		"tools": "include minimal\nuroot ls\n",
		"mine":  "description mine\ninclude tools\nuroot ls grep\nfile /etc/hostname\nmodule e1000 igb\n",
	})
	p, err := LoadProfile([]string{user, builtin}, "mine")
	if err != nil {
		t.Fatal(err)
	}
	want := &Profile{
		Name: "mine", Description: "mine", Includes: []string{"tools"}, Busybox: true,
		URoot:   []string{"ls", "grep"},
		Files:   []HostFile{{Host: "/etc/hostname", Line: 4}},
		Modules: []string{"e1000", "igb"},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("merged\n%+v\nwant\n%+v", p, want)
	}

	// A path names a file; its directory is searched first for includes.
	other := t.TempDir()
	writeProfiles(t, other, map[string]string{"extra": "include minimal\nfile /etc/os-release\n"})
	p, err = LoadProfile([]string{builtin}, filepath.Join(other, "extra.profile"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "extra" || !p.Busybox || len(p.Files) != 1 {
		t.Errorf("profile from a path: %+v", p)
	}
}

func TestLoadProfileRefusesCyclesAndMissingProfiles(t *testing.T) {
	dir := t.TempDir()
	writeProfiles(t, dir, map[string]string{
		"a":      "include b\n",
		"b":      "include c\n",
		"c":      "include a\n",
		"broken": "busybox\nuroot ../x\n",
		"dangle": "include nowhere\n",
	})
	for ref, want := range map[string]string{
		"a":                 "profiles include each other: a -> b -> c -> a",
		"broken":            "broken.profile:2: uroot",
		"dangle":            `dangle includes nowhere: no profile "nowhere"`,
		"absent":            `no profile "absent"`,
		"../x":              "profile file ../x: the name must end in .profile",
		dir + "/none.conf":  "must end in .profile",
		dir + "/a.profile":  "include each other",
		"UPPER":             `profile name "UPPER"`,
		dir + "/no.profile": `no profile "no"`,
	} {
		_, err := LoadProfile([]string{dir}, ref)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadProfile(%q) = %v, want an error with %q", ref, err, want)
		}
	}
}

// The built-in profiles must parse, and each must have what its name
// promises.
func TestBuiltinProfiles(t *testing.T) {
	dirs := []string{filepath.Join("..", BuiltinProfileDir)}
	if names := ProfileNames(dirs...); !reflect.DeepEqual(names, []string{"minimal", "runtimes", "tools"}) {
		t.Errorf("built-in profiles = %q", names)
	}
	minimal, err := LoadProfile(dirs, DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	if !minimal.Busybox || len(minimal.URoot)+len(minimal.Files) > 0 {
		t.Errorf("minimal should be busybox alone: %+v", minimal)
	}
	tools, err := LoadProfile(dirs, "tools")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"ls", "cat", "grep", "ps", "wget"} {
		if !slices.Contains(tools.URoot, c) {
			t.Errorf("tools lacks u-root's %s", c)
		}
	}
	runtimes, err := LoadProfile(dirs, "runtimes")
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, f := range runtimes.Files {
		hosts = append(hosts, f.Host)
	}
	for _, want := range []string{"/usr/bin/python3", "/usr/bin/gcc", "/usr/lib/gcc/x86_64-linux-gnu/12/cc1", "/usr/bin/as", "/usr/bin/ld"} {
		if !slices.Contains(hosts, want) {
			t.Errorf("runtimes lacks %s", want)
		}
	}
	if !runtimes.Busybox || len(runtimes.URoot) != len(tools.URoot) {
		t.Errorf("runtimes does not include tools: %+v", runtimes)
	}
}

func TestInitrdFileName(t *testing.T) {
	if got := InitrdFileName(DefaultProfile); got != InitrdName {
		t.Errorf("default profile's initrd is %s, want %s", got, InitrdName)
	}
	if got := InitrdFileName("tools"); got != "ramfarm-node-tools.cpio.lz4" {
		t.Errorf("tools' initrd is %s", got)
	}
}
