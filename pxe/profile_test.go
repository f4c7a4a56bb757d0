package pxe

import (
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
)

// flagsDefault stands for --kernel, --initrd and --cmdline.
var flagsDefault = Profile{Kernel: "vmlinuz", Initrd: "initramfs.img", Cmdline: "console=ttyS0"}

const goodProfiles = `# Two profiles besides the default from the flags.
[profile tools]
kernel  = vmlinuz
initrd  = tools.img
cmdline = console=ttyS0 ramfarm.workspace_size=80% msg="a b"

[profile rt]
kernel = vmlinuz-rt
initrd = v2/rt.img

[group rack2]
profile = tools
macs    = 52:54:00:77:00:01, 52-54-00-77-00-02
macs    = 52:54:00:77:00:03

[node 52:54:00:77:00:02]
profile = rt

[node 52:54:00:77:00:09]
profile = default
`

func mustParseProfiles(t *testing.T, src string) *ProfileTable {
	t.Helper()
	table, err := ParseProfiles("profiles.conf", []byte(src), flagsDefault)
	if err != nil {
		t.Fatalf("ParseProfiles: %v", err)
	}
	return table
}

func TestProfileTablePrecedence(t *testing.T) {
	table := mustParseProfiles(t, goodProfiles)
	tests := []struct {
		mac, profile, why string
	}{
		{"52:54:00:77:00:01", "tools", "group rack2"},
		{"52:54:00:77:00:03", "tools", "group rack2"},
		{"52:54:00:77:00:02", "rt", "node entry"}, // its node entry beats its group
		{"52:54:00:77:00:09", "default", "node entry"},
		{"52:54:00:77:00:42", "default", "default"},
	}
	for _, tc := range tests {
		mac, _ := net.ParseMAC(tc.mac)
		p, why := table.ProfileFor(mac)
		if p.Name != tc.profile || why != tc.why {
			t.Errorf("ProfileFor(%s) = %s (%s), want %s (%s)", tc.mac, p.Name, why, tc.profile, tc.why)
		}
	}
	if p, why := table.ProfileFor(nil); p.Name != DefaultProfile || why != "default" {
		t.Errorf("ProfileFor(nil) = %s (%s), want the default", p.Name, why)
	}
}

func TestParseProfilesGoodFile(t *testing.T) {
	table := mustParseProfiles(t, goodProfiles)
	want := []Profile{
		{Name: "default", Kernel: "vmlinuz", Initrd: "initramfs.img", Cmdline: "console=ttyS0"},
		{Name: "rt", Kernel: "vmlinuz-rt", Initrd: "v2/rt.img"},
		{Name: "tools", Kernel: "vmlinuz", Initrd: "tools.img", Cmdline: `console=ttyS0 ramfarm.workspace_size=80% msg="a b"`},
	}
	if got := table.Profiles(); !reflect.DeepEqual(got, want) {
		t.Errorf("profiles:\n%+v\nwant\n%+v", got, want)
	}

	// A default profile in the file replaces the flags'.
	table = mustParseProfiles(t, "[profile default]\r\nkernel = k2\r\ninitrd = i2\r\n")
	if p, _ := table.ProfileFor(nil); p != (Profile{Name: "default", Kernel: "k2", Initrd: "i2"}) {
		t.Errorf("default from the file (CRLF lines): %+v", p)
	}
}

func TestParseProfilesErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // each a line of the error
	}{
		{"unknown key", "[profile a]\nkernel = k\ninitrd = i\nkernal = k\n",
			[]string{`profiles.conf:4: unknown key "kernal" in [profile a]: want one of kernel, initrd, cmdline`}},
		{"duplicate profile", "[profile a]\nkernel = k\ninitrd = i\n\n[profile a]\nkernel = k\ninitrd = i\n",
			[]string{"profiles.conf:5: profile a is already defined on line 1"}},
		{"MAC in two groups", "[group a]\nprofile = default\nmacs = 52:54:00:00:00:01\n[group b]\nprofile = default\nmacs = 52:54:00:00:00:02 52-54-00-00-00-01\n",
			[]string{"profiles.conf:6: MAC 52:54:00:00:00:01 is already in group a (line 3): a node belongs to one group"}},
		{"undefined profile", "[group a]\nprofile = tols\nmacs = 52:54:00:00:00:01\n\n[node 52:54:00:00:00:02]\nprofile = rt\n",
			[]string{`profiles.conf:2: profile "tols" is not defined in this file`, `profiles.conf:6: profile "rt" is not defined in this file`}},
		{"bad MAC in a group", "[group a]\nprofile = default\nmacs = 52:54:00:00:00:01, 52:54:00:00:01\n",
			[]string{`profiles.conf:3: "52:54:00:00:01" is not a MAC address`}},
		{"bad MAC in a node header", "[node 52:54:00:zz:00:01]\nprofile = default\n",
			[]string{`profiles.conf:1: node "52:54:00:zz:00:01": not a MAC address`}},
		{"duplicate node", "[node 52:54:00:00:00:01]\nprofile = default\n[node 52-54-00-00-00-01]\nprofile = default\n",
			[]string{"profiles.conf:3: node 52:54:00:00:00:01 is already defined on line 1"}},
		{"key set twice", "[profile a]\nkernel = k\nkernel = k2\ninitrd = i\n",
			[]string{"profiles.conf:3: kernel is already set on line 2"}},
		{"missing files", "\n[profile a]\ncmdline = quiet\n",
			[]string{"profiles.conf:2: profile a has no kernel", "profiles.conf:2: profile a has no initrd"}},
		{"group without profile", "[group a]\nmacs = 52:54:00:00:00:01\n",
			[]string{"profiles.conf:1: group a says no profile = NAME"}},
		{"empty macs", "[group a]\nprofile = default\nmacs =\n", []string{"profiles.conf:3: macs = lists no MAC addresses"}},
		{"key before any section", "kernel = k\n",
			[]string{"profiles.conf:1: kernel = ... before the first [profile NAME], [group NAME] or [node MAC] section"}},
		{"not key = value", "[profile a]\nkernel\nkernel = k\ninitrd = i\n", []string{`profiles.conf:2: want key = value or [section], got "kernel"`}},
		{"unknown section", "[host x]\nprofile = a\n", []string{`profiles.conf:1: unknown section kind "host": want profile, group or node`}},
		{"bad header", "[profile]\n[profile a b]\n[profile a\n", []string{
			`profiles.conf:1: want [profile NAME], [group NAME] or [node MAC], got "[profile]"`,
			`profiles.conf:2: want [profile NAME], [group NAME] or [node MAC], got "[profile a b]"`,
			`profiles.conf:3: want [profile NAME], [group NAME] or [node MAC], got "[profile a"`}},
		{"bad profile name", "[profile a=b]\nkernel = k\ninitrd = i\n",
			[]string{`profiles.conf:1: profile name "a=b" is not 1 to 64 letters, digits, '.', '_' or '-'`}},
		{"bad file names", "[profile a]\nkernel = ../vmlinuz\ninitrd = my initrd\n", []string{
			`profiles.conf:2: kernel "../vmlinuz" is not a plain relative file name (letters, digits, . _ - + /)`,
			`profiles.conf:3: initrd "my initrd" is not a plain relative file name (letters, digits, . _ - + /)`}},
		{"control character", "[profile a]\nkernel = k\ninitrd = i\ncmdline = quiet\tdebug\n",
			[]string{"profiles.conf:4: cmdline contains a tab, line break or other control character"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table, err := ParseProfiles("profiles.conf", []byte(tc.src), flagsDefault)
			if err == nil {
				t.Fatalf("parsed into %+v, want errors %q", table, tc.want)
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestLoadProfiles(t *testing.T) {
	if _, err := LoadProfiles(t.TempDir()+"/missing.conf", flagsDefault); err == nil || !strings.Contains(err.Error(), "missing.conf") {
		t.Errorf("missing file: %v, want an error naming it", err)
	}
	// The example the operations guide points to must stay valid.
	table, err := LoadProfiles("../docs/boot-profiles.example", flagsDefault)
	if err != nil {
		t.Fatal(err)
	}
	if len(table.Profiles()) < 2 {
		t.Errorf("the example defines %d profiles; it should show more than the default", len(table.Profiles()))
	}
}

// FuzzParseProfiles: parsing never panics, and whatever parses is a policy
// that passes the checks New makes of every profile and answers every MAC
// with one of its profiles.
func FuzzParseProfiles(f *testing.F) {
	f.Add(goodProfiles)
	f.Add("[profile default]\nkernel = k\ninitrd = i\n")
	f.Add("[group g]\nprofile = default\nmacs = 01:02:03:04:05:06,,\n[node 01-02-03-04-05-06]\nprofile = default\n")
	f.Add("[profile a]\nkernel=\x00\n[")
	f.Fuzz(func(t *testing.T, src string) {
		table, err := ParseProfiles("fuzz", []byte(src), flagsDefault)
		if err != nil {
			if table != nil {
				t.Fatalf("error %v with a table", err)
			}
			return
		}
		cfg := Config{Profiles: table}
		var p problems
		cfg.checkProfiles(&p)
		if len(p) > 0 {
			t.Fatalf("parsed profiles fail validation: %v\n%q", p, src)
		}
		listed := map[string]bool{}
		for _, prof := range table.Profiles() {
			listed[prof.Name] = true
		}
		macs := []net.HardwareAddr{nil}
		for mac := range table.nodes {
			hw, _ := net.ParseMAC(mac)
			macs = append(macs, hw)
		}
		for mac := range table.groupOf {
			hw, _ := net.ParseMAC(mac)
			macs = append(macs, hw)
		}
		for _, mac := range macs {
			if p, _ := table.ProfileFor(mac); !listed[p.Name] {
				t.Fatalf("ProfileFor(%v) = %+v, not one of the listed profiles", mac, p)
			}
		}
	})
}

// TestExampleProfilesFileIsDocumented keeps docs/operations.md and the
// example file saying the same keys.
func TestExampleProfilesFileIsDocumented(t *testing.T) {
	guide, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, word := range []string{"--boot-profiles", "[profile NAME]", "[group NAME]", "[node MAC]", "boot-profiles.example", "ramfarm.profile="} {
		if !strings.Contains(string(guide), word) {
			t.Errorf("docs/operations.md does not mention %q", word)
		}
	}
}
