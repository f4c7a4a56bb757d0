package initramfs

import (
	"strings"
	"testing"
)

// FuzzParseProfile: the parser never panics, and whatever it accepts holds
// only names and paths that are safe to build from.
func FuzzParseProfile(f *testing.F) {
	for _, seed := range []string{
		"busybox\n",
		"# c\ndescription x y\ninclude minimal\nuroot ls cat\nprogram /usr/bin/gcc\nfile /a /b\nfile /a/*.o\nexclude __pycache__\nmodule igb\n",
		"file /etc/x /init\n",
		"include ../../etc\n",
		"busybox\nbusybox\n",
		"\x00\n\t\r\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := ParseProfile("fuzz", strings.NewReader(src))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.profile") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		lines := strings.Count(src, "\n") + 1
		for _, inc := range p.Includes {
			if !ValidProfileName(inc) || inc == "fuzz" {
				t.Errorf("accepted include %q", inc)
			}
		}
		for _, c := range p.URoot {
			if !urootCommand.MatchString(c) {
				t.Errorf("accepted u-root command %q", c)
			}
		}
		for _, m := range p.Modules {
			if !moduleNameRE.MatchString(m) {
				t.Errorf("accepted module %q", m)
			}
		}
		for _, file := range p.Files {
			if err := checkHostFile(file); err != nil {
				t.Errorf("accepted %+v: %v", file, err)
			}
			if file.Line < 1 || file.Line > lines {
				t.Errorf("%+v: line out of range 1..%d", file, lines)
			}
		}
		if strings.ContainsAny(p.Description, "\x00\n\r") {
			t.Errorf("description %q has control characters", p.Description)
		}
	})
}
