package cmdline

import (
	"maps"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"empty", "", map[string]string{}},
		{"only newline", "\n", map[string]string{}},
		{
			name: "typical PXE line",
			in:   "console=ttyS0,115200 BOOTIF=01-52-54-00-12-34-56 quiet ramfarm.server=http://10.77.0.1:8080\n",
			want: map[string]string{
				"console":        "ttyS0,115200",
				"BOOTIF":         "01-52-54-00-12-34-56",
				"quiet":          "",
				"ramfarm.server": "http://10.77.0.1:8080",
			},
		},
		{
			// What a boot profile's script gives: the dispatcher's
			// arguments follow the profile's, so a profile that sets
			// ramfarm.profile itself is overridden (the last value wins).
			name: "boot profile line",
			in:   `initrd=tools.img console=ttyS0 msg="a b" ramfarm.profile=mine ramfarm.dispatcher=10.77.0.1:7070 ramfarm.token=t ramfarm.profile=tools BOOTIF=01-52-54-00-77-00-01`,
			want: map[string]string{
				"initrd": "tools.img", "console": "ttyS0", "msg": "a b", "ramfarm.profile": "tools",
				"ramfarm.dispatcher": "10.77.0.1:7070", "ramfarm.token": "t", "BOOTIF": "01-52-54-00-77-00-01",
			},
		},
		{"quoted value", `msg="a b  c" x=1`, map[string]string{"msg": "a b  c", "x": "1"}},
		{"quoted whole parameter", `"msg=a b" y`, map[string]string{"msg": "a b", "y": ""}},
		{"value keeps later equals", "root=UUID=abc", map[string]string{"root": "UUID=abc"}},
		{"empty value", "a= b", map[string]string{"a": "", "b": ""}},
		{"last repeat wins", "a=1 a=2", map[string]string{"a": "2"}},
		{"tabs and runs of spaces", "a=1\t\t b=2   c", map[string]string{"a": "1", "b": "2", "c": ""}},
		{"empty quotes", `a="" b`, map[string]string{"a": "", "b": ""}},
		{"stops at init's arguments", "quiet -- --flag x=1", map[string]string{"quiet": ""}},
		{"unterminated quote runs to the end", `a="x y`, map[string]string{"a": "x y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Parse(tt.in); !maps.Equal(got, tt.want) {
				t.Errorf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestReadParsesThisMachine(t *testing.T) {
	params, err := Read()
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(params) == 0 {
		t.Fatal("Read returned no parameters; /proc/cmdline is never empty on a booted kernel")
	}
}
