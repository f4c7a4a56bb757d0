package initramfs

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/u-root/uio/llog"
)

// fakeBzImage writes a file with just enough of an x86 setup header for
// bzImageRelease: the "HdrS" magic, a boot protocol version and a
// kernel_version pointer to version.
func fakeBzImage(t *testing.T, version string) string {
	t.Helper()
	img := make([]byte, 0x400, 0x400+len(version)+1)
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x206:], 0x20f)
	binary.LittleEndian.PutUint16(img[0x20e:], 0x400-0x200)
	img = append(img, version...)
	img = append(img, 0)
	p := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBzImageRelease(t *testing.T) {
	p := fakeBzImage(t, "6.1.192-ramfarm (ramfarm@ramfarm) #1 SMP PREEMPT_NONE Sun Nov 16 10:17:00 UTC 2025")
	if got, err := bzImageRelease(p); err != nil || got != "6.1.192-ramfarm" {
		t.Errorf("bzImageRelease = %q, %v; want 6.1.192-ramfarm", got, err)
	}

	notKernel := filepath.Join(t.TempDir(), "notkernel")
	if err := os.WriteFile(notKernel, make([]byte, 0x1000), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := bzImageRelease(notKernel); err == nil || !strings.Contains(err.Error(), "not an x86 bzImage") {
		t.Errorf("a file of zeros: err = %v, want not an x86 bzImage", err)
	}
}

func TestParseKernel(t *testing.T) {
	for in, want := range map[string]Kernel{"": KernelDebian, "debian": KernelDebian, "custom": KernelCustom} {
		if got, err := ParseKernel(in); err != nil || got != want {
			t.Errorf("ParseKernel(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseKernel("vanilla"); err == nil {
		t.Error("ParseKernel(vanilla) succeeded")
	}
}

func TestCustomKernelMissingSaysMakeKernel(t *testing.T) {
	_, err := chooseKernel(Config{Kernel: KernelCustom, RepoDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "make kernel") {
		t.Errorf("err = %v, want a hint to run make kernel", err)
	}
	_, err = chooseKernel(Config{Kernel: KernelCustom, CustomKernel: fakeBzImage(t, "6.1.192-ramfarm x"), KernelRelease: "6.1.0-56-amd64"})
	if err == nil {
		t.Error("a Debian kernel release was accepted with the custom kernel")
	}
}

// TestBuildWithCustomKernel builds the real image around a stand-in
// bzImage: vmlinuz must be that file, and the initramfs must have no
// module directory, which tells the agent's loader there is nothing to load.
func TestBuildWithCustomKernel(t *testing.T) {
	kernel := fakeBzImage(t, "6.1.192-ramfarm (ramfarm@ramfarm) #1 SMP")
	out := t.TempDir()
	m, err := Build(Config{OutDir: out, RepoDir: "..", Kernel: KernelCustom, CustomKernel: kernel, Log: llog.Test(t)})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if m.KernelRelease != "6.1.192-ramfarm" {
		t.Errorf("manifest kernel release %q, want 6.1.192-ramfarm", m.KernelRelease)
	}
	want, _ := os.ReadFile(kernel)
	if got, err := os.ReadFile(filepath.Join(out, KernelName)); err != nil || string(got) != string(want) {
		t.Errorf("%s is not the custom kernel (err %v)", KernelName, err)
	}

	records := readInitrd(t, filepath.Join(out, InitrdName))
	for name := range records {
		if strings.HasPrefix(name, "lib/modules") {
			t.Errorf("image with the custom kernel has %s", name)
		}
	}
	if info := records[imageInfoPath].content; !strings.Contains(info, `"kernelRelease": "6.1.192-ramfarm"`) || !strings.Contains(info, `"modules": []`) {
		t.Errorf("%s = %s", imageInfoPath, info)
	}
	if got := records["init"].content; got != "bin/ramfarm-agent" {
		t.Errorf("init -> %q, want bin/ramfarm-agent", got)
	}
}
