package initramfs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A module tree in the shape of Debian's, cut down to what the tests need.
const (
	testModulesDep = `kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/sound/snd.ko:
`
	testModulesAlias = `# Aliases extracted from modules themselves.
alias virtio:d00000004v* virtio_rng
alias virtio:d00000001v* virtio_net
alias pci:v00008086d00002668sv*sd*bc*sc*i* snd
`
	testModulesBuiltin = "kernel/drivers/net/ethernet/intel/e1000/e1000.ko\n"
)

func writeTestModuleTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"modules.dep":     testModulesDep,
		"modules.alias":   testModulesAlias,
		"modules.builtin": testModulesBuiltin,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSelectModulesAddsDependenciesAndFiltersIndexes(t *testing.T) {
	sel, err := selectModules(writeTestModuleTree(t), []string{"virtio_net", "virtio_rng", "e1000"})
	if err != nil {
		t.Fatal(err)
	}

	wantNames := []string{"failover", "net_failover", "virtio", "virtio_net", "virtio_ring", "virtio_rng"}
	if !slices.Equal(sel.Names, wantNames) {
		t.Errorf("names = %q, want %q (e1000 is built in and needs no file)", sel.Names, wantNames)
	}
	if !slices.Contains(sel.Paths, "kernel/drivers/char/hw_random/virtio-rng.ko") {
		t.Errorf("paths %q lack virtio-rng.ko, whose name has a dash", sel.Paths)
	}
	wantDep := `kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
`
	if string(sel.Dep) != wantDep {
		t.Errorf("modules.dep =\n%s\nwant\n%s", sel.Dep, wantDep)
	}
	wantAlias := `alias virtio:d00000004v* virtio_rng
alias virtio:d00000001v* virtio_net
`
	if string(sel.Alias) != wantAlias {
		t.Errorf("modules.alias =\n%s\nwant\n%s", sel.Alias, wantAlias)
	}
}

func TestSelectModulesRejectsUnknownModule(t *testing.T) {
	if _, err := selectModules(writeTestModuleTree(t), []string{"no_such_nic"}); err == nil {
		t.Fatal("selecting a module the kernel does not have succeeded")
	}
}

// The declared modules must all exist for the kernel the image is built for.
func TestNodeModulesResolveOnHostKernel(t *testing.T) {
	release, err := kernelRelease(hostBootDir, hostModulesRoot, "")
	if err != nil {
		t.Fatalf("%v: the image build needs a Debian kernel", err)
	}
	sel, err := selectModules(filepath.Join(hostModulesRoot, release), nodeModules)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"e1000", "e1000e", "virtio_net", "failover", "net_failover", "virtio", "virtio_ring", "virtio_pci", "virtio_rng",
		"igb", "igc", "ixgbe", "i40e", "ice", "tg3", "bnxt_en", "r8169", "mlx4_en", "mlx4_core", "mlx5_core"} {
		if !slices.Contains(sel.Names, want) {
			t.Errorf("image modules %q lack %s", sel.Names, want)
		}
	}
}
