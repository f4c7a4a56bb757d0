package kmod

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func readTestIndex(t *testing.T, dir string) *index {
	t.Helper()
	ix, err := readIndex(dir)
	if err != nil {
		t.Fatalf("readIndex(%s): %v", dir, err)
	}
	return ix
}

func TestParseAliases(t *testing.T) {
	ix := readTestIndex(t, "testdata")
	want := []alias{
		{"pci:v00008086d0000100Esv*sd*bc*sc*i*", "e1000"},
		{"pci:v00001AF4d*sv*sd*bc*sc*i*", "virtio_pci"},
		{"virtio:d00000001v*", "virtio_net"},
		{"pci:v000010ECd00008168sv*sd*bc*sc*i*", "r8169"},
		{"pci:v*d*sv*sd*bc0Csc03i30*", "xhci_pci"},
	}
	if !slices.Equal(ix.aliases, want) {
		t.Errorf("aliases = %v\nwant %v", ix.aliases, want)
	}
}

func TestParseDeps(t *testing.T) {
	ix := readTestIndex(t, "testdata")
	tests := []struct {
		name string
		want module
	}{
		{"virtio_net", module{
			file: "kernel/drivers/net/virtio_net.ko",
			deps: []string{"net_failover", "failover", "virtio", "virtio_ring"},
		}},
		{"failover", module{file: "kernel/net/core/failover.ko"}},
		{"r8169", module{
			file: "kernel/drivers/net/ethernet/realtek/r8169.ko.zst",
			deps: []string{"realtek", "mdio_devres", "libphy"},
		}},
		{"mdio_devres", module{
			file: "kernel/drivers/net/mdio/mdio-devres.ko.zst",
			deps: []string{"libphy"},
		}},
	}
	for _, tt := range tests {
		got, ok := ix.modules[tt.name]
		if !ok || got.file != tt.want.file || !slices.Equal(got.deps, tt.want.deps) {
			t.Errorf("modules[%q] = %+v (present %v), want %+v", tt.name, got, ok, tt.want)
		}
	}
	if len(ix.modules) != 13 {
		t.Errorf("got %d modules, want the 13 lines of testdata/modules.dep", len(ix.modules))
	}
}

func TestParseLoaded(t *testing.T) {
	procModules := `virtio_net 69632 0 - Live 0x0000000000000000
net_failover 24576 1 virtio_net, Live 0x0000000000000000
snd-hda-intel 57344 0 - Live 0x0000000000000000
`
	got, err := parseLoaded(strings.NewReader(procModules))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"virtio_net": true, "net_failover": true, "snd_hda_intel": true}
	if !maps.Equal(got, want) {
		t.Errorf("parseLoaded = %v, want %v", got, want)
	}
}
