package qemutests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/initramfs"
	"github.com/ramfarm/ramfarm/qemu-tests/cluster"
)

// The end-to-end cluster boots two boot profiles: machine roomyMachine gets
// "roomy" by its own [node] section, with its own command line; the others
// get "default", made of the dispatcher's --kernel, --initrd and --cmdline.
const (
	roomyMachine = 2
	roomyCmdline = "console=ttyS0 ramfarm.workspace_size=75%"
)

func wantProfile(i int) string {
	if i == roomyMachine {
		return "roomy"
	}
	return "default"
}

// writeBootProfiles writes the cluster's boot profiles file into dir.
func writeBootProfiles(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "boot-profiles.conf")
	content := fmt.Sprintf("[profile roomy]\nkernel = vmlinuz\ninitrd = %s\ncmdline = %s\n\n[node %s]\nprofile = roomy\n",
		initramfs.InitrdName, roomyCmdline, cluster.MAC(roomyMachine))
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// assertBootProfile checks that node i says it booted its profile (the
// agent reads it from its kernel command line) and that the dispatcher
// served that profile's script to its MAC.
func assertBootProfile(t *testing.T, c *cluster.Cluster, i int, n api.Node) {
	t.Helper()
	want := wantProfile(i)
	if n.Profile != want {
		t.Errorf("node %d (%s) reports boot profile %q, want %q", i, n.MAC, n.Profile, want)
	}
	urlMAC := "mac=" + strings.ReplaceAll(n.MAC, ":", "-")
	if !logHasLine(c.DispatcherLog(), `msg="boot script"`, urlMAC, "profile="+want+" ") {
		t.Errorf("node %d: no dispatcher log line serving profile %s to %s", i, want, urlMAC)
	}
}

// assertNodeTableProfiles checks the PROFILE column of `ramfarm nodes`.
func assertNodeTableProfiles(t *testing.T, ctx context.Context, ramfarm string, c *cluster.Cluster, nodes []api.Node) {
	t.Helper()
	out, err := exec.CommandContext(ctx, ramfarm, "nodes", "--api-socket", c.APISocket()).CombinedOutput()
	if err != nil {
		t.Fatalf("ramfarm nodes: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	col := strings.Index(lines[0], "PROFILE")
	if col < 0 {
		t.Fatalf("ramfarm nodes has no PROFILE column:\n%s", out)
	}
	for i, n := range nodes {
		found := false
		for _, line := range lines[1:] {
			if strings.HasPrefix(line, n.Name+" ") {
				found = true
				if got := strings.Fields(line[col:])[0]; got != wantProfile(i) {
					t.Errorf("ramfarm nodes shows %s with profile %q, want %q:\n%s", n.Name, got, wantProfile(i), out)
				}
			}
		}
		if !found {
			t.Errorf("ramfarm nodes lacks %s:\n%s", n.Name, out)
		}
	}
	fmt.Printf("e2e: ramfarm nodes:\n%s", out)
}
