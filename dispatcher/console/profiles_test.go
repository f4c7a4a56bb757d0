package console

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serve reads --boot-profiles, from the command line or the --config file,
// and refuses to start on a mistake in it, naming the line.
func TestServeRefusesBadBootProfiles(t *testing.T) {
	dir := t.TempDir()
	profiles := filepath.Join(dir, "profiles.conf")
	os.WriteFile(profiles, []byte("[profile tools]\nkernel = vmlinuz\ninitrd = tools.img\nkernal = x\n"), 0o644)
	config := filepath.Join(dir, "ramfarm.conf")
	os.WriteFile(config, []byte("boot-profiles = "+profiles+"\n"), 0o644)
	common := []string{"--interface", "rf-nonesuch0", "--address", "10.77.0.1/24", "--state-dir", filepath.Join(dir, "state")}
	for name, args := range map[string][]string{
		"flag":        append([]string{"--boot-profiles", profiles}, common...),
		"config file": append([]string{"--config", config}, common...),
	} {
		err := serve(args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), profiles+`:4: unknown key "kernal"`) {
			t.Errorf("%s: serve returned %v, want the profiles file's line 4", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
		t.Error("serve created its state directory before refusing the profiles")
	}
}
