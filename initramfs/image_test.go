package initramfs

import (
	"bytes"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"
	"github.com/u-root/mkuimage/cpio"
	"github.com/u-root/uio/llog"
)

// TestBuildIsReproducibleAndComplete builds the real image twice, the
// default profile and a user's profile that copies a host program, and
// checks the bytes match and the archives hold what a node needs to boot.
func TestBuildIsReproducibleAndComplete(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent twice")
	}
	userDir := t.TempDir()
	userProfile := filepath.Join(userDir, "withenv.profile")
	err := os.WriteFile(userProfile, []byte("include minimal\nprogram /usr/bin/env\nfile /etc/os-release /etc/host-os-release\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	build := func() (*Manifest, string) {
		out := t.TempDir()
		m, err := Build(Config{OutDir: out, RepoDir: "..", Profiles: []string{DefaultProfile, userProfile}, Log: llog.Test(t)})
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		return m, out
	}
	first, out := build()
	second, _ := build()
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("two builds differ:\n%+v\n%+v", first, second)
	}
	var names []string
	for _, a := range first.Artifacts {
		names = append(names, a.Name+"/"+a.Profile)
		if a.Role == "initrd" && a.Unpacked <= a.Size {
			t.Errorf("%s: unpacked %d bytes, compressed %d", a.Name, a.Unpacked, a.Size)
		}
	}
	if want := []string{KernelName + "/", InitrdName + "/minimal", "ramfarm-node-withenv.cpio.lz4/withenv"}; !reflect.DeepEqual(names, want) {
		t.Errorf("artifacts %q, want %q", names, want)
	}
	user := readInitrd(t, filepath.Join(out, "ramfarm-node-withenv.cpio.lz4"))
	for _, want := range []string{"usr/bin/env", "etc/host-os-release", "lib/x86_64-linux-gnu/libc.so.6", "bin/sh", "init"} {
		if _, ok := user[want]; !ok {
			t.Errorf("the user profile's image lacks %s", want)
		}
	}
	if !strings.Contains(user[imageInfoPath].content, `"profile": "withenv"`) {
		t.Errorf("image.json does not name the profile:\n%s", user[imageInfoPath].content)
	}

	records := readInitrd(t, filepath.Join(out, InitrdName))
	modDir := path.Join("lib/modules", first.KernelRelease)
	for name, want := range map[string]string{
		"init":                    "bin/ramfarm-agent",
		"bin/sh":                  "busybox",
		"bin/sha256sum":           "busybox",
		modDir + "/modules.dep":   "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko",
		modDir + "/modules.alias": " e1000e\n",
		modDir + "/kernel/drivers/net/ethernet/intel/igb/igb.ko":                "\x7fELF",
		modDir + "/kernel/drivers/net/ethernet/mellanox/mlx5/core/mlx5_core.ko": "\x7fELF",
		imageInfoPath: `"kernelRelease": "` + first.KernelRelease + `"`,
		modDir + "/kernel/drivers/net/virtio_net.ko": "\x7fELF",
	} {
		got, ok := records[name]
		if !ok {
			t.Errorf("image lacks %s", name)
			continue
		}
		if !strings.Contains(got.content, want) {
			t.Errorf("%s does not contain %q", name, want)
		}
	}
	if root := records["."]; root.mode != cpio.S_IFDIR|0o755 {
		t.Errorf("/ has mode %o, want %o", root.mode, cpio.S_IFDIR|0o755)
	}
	if dep := records[modDir+"/modules.dep"].content; strings.Contains(dep, "sound/") {
		t.Errorf("modules.dep lists modules the image does not carry:\n%s", dep)
	}
}

type initrdRecord struct {
	mode    uint64
	content string
}

// readInitrd reads the LZ4-compressed cpio at p, checking every record
// carries no host-specific metadata.
func readInitrd(t *testing.T, p string) map[string]initrdRecord {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw, err := io.ReadAll(lz4.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	all, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	records := map[string]initrdRecord{}
	for _, r := range all {
		if r.MTime != 0 || r.UID != 0 || r.GID != 0 || r.Ino != 0 {
			t.Errorf("%s has host metadata: mtime %d uid %d gid %d ino %d", r.Name, r.MTime, r.UID, r.GID, r.Ino)
		}
		var content []byte
		if r.ReaderAt != nil {
			content, err = io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
			if err != nil {
				t.Fatal(err)
			}
		}
		records[r.Name] = initrdRecord{mode: r.Mode, content: string(content)}
	}
	return records
}
