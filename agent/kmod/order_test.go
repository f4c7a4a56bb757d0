package kmod

import (
	"slices"
	"testing"
)

// Modaliases of the NICs QEMU gives a ramfarm node.
const (
	qemuE1000      = "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"
	qemuE1000e     = "pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00"
	qemuVirtioPCI  = "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"
	qemuVirtioNet  = "virtio:d00000001v00001AF4" // appears once virtio_pci is loaded
	unknownDevice  = "pci:v0000FFFFd0000FFFFsv00000000sd00000000bc00sc00i00"
	debianModules  = "/lib/modules/6.1.0-56-amd64"
	debianInstalls = "apt-get install linux-image-6.1.0-56-amd64"
)

func TestLoadOrder(t *testing.T) {
	ix := readTestIndex(t, "testdata")
	tests := []struct {
		name       string
		modaliases []string
		skip       []string
		want       []string
	}{
		{
			name:       "virtio_net after its dependency chain, deepest first",
			modaliases: []string{qemuVirtioNet},
			want:       []string{"virtio_ring", "virtio", "failover", "net_failover", "virtio_net"},
		},
		{
			name:       "loaded modules are skipped",
			modaliases: []string{qemuVirtioNet},
			skip:       []string{"virtio", "virtio_ring", "failover"},
			want:       []string{"net_failover", "virtio_net"},
		},
		{
			name:       "compressed modules and dashed file names",
			modaliases: []string{"pci:v000010ECd00008168sv00001043sd00008677bc02sc00i00"},
			want:       []string{"libphy", "mdio_devres", "realtek", "r8169"},
		},
		{
			name:       "shared dependencies load once",
			modaliases: []string{qemuVirtioPCI, qemuVirtioNet, qemuVirtioNet},
			want: []string{
				"virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
				"failover", "net_failover", "virtio_net",
			},
		},
		{
			name:       "alias without a modules.dep line is built in",
			modaliases: []string{"pci:v00008086d00001E31sv00000000sd00000000bc0Csc03i30"},
		},
		{
			name:       "no alias matches",
			modaliases: []string{unknownDevice},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			skip := make(map[string]bool)
			for _, name := range tt.skip {
				skip[name] = true
			}
			if got := ix.loadOrder(tt.modaliases, skip); !slices.Equal(got, tt.want) {
				t.Errorf("loadOrder = %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestLoadOrderDebian resolves QEMU's NICs against the real index of the
// Debian kernel that ramfarm images boot, in the two rounds a node goes
// through: the PCI devices first, then the virtio device that loading
// virtio_pci creates.
func TestLoadOrderDebian(t *testing.T) {
	ix, err := readIndex(debianModules)
	if err != nil {
		t.Fatalf("reading the Debian kernel's module index: %v (it comes with: %s)", err, debianInstalls)
	}
	done := make(map[string]bool)
	round := func(modaliases ...string) []string {
		order := ix.loadOrder(modaliases, done)
		for _, name := range order {
			done[name] = true
		}
		return order
	}

	pci := round(qemuE1000, qemuE1000e, qemuVirtioPCI, unknownDevice)
	wantPCI := []string{
		"e1000", "e1000e",
		"virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
	}
	if !slices.Equal(pci, wantPCI) {
		t.Errorf("PCI round = %v\nwant %v", pci, wantPCI)
	}

	virtio := round(qemuE1000, qemuE1000e, qemuVirtioPCI, unknownDevice, qemuVirtioNet)
	wantVirtio := []string{"failover", "net_failover", "virtio_net"}
	if !slices.Equal(virtio, wantVirtio) {
		t.Errorf("virtio round = %v\nwant %v", virtio, wantVirtio)
	}

	if again := round(qemuE1000, qemuE1000e, qemuVirtioPCI, unknownDevice, qemuVirtioNet); len(again) != 0 {
		t.Errorf("a third round loads %v, want nothing", again)
	}
}
