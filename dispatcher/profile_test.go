package dispatcher

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/ramfarm/ramfarm/protocol"
	"github.com/ramfarm/ramfarm/pxe"
)

// The node table shows the profile each node says it booted, and follows
// a node that reboots into another one.
func TestNodeTableShowsBootProfiles(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	tools, m := dial(t, h, protocol.Hello{Token: h.token, MAC: "52:54:00:00:00:01", Profile: "tools"})
	if _, ok := m.(*protocol.Welcome); !ok {
		t.Fatalf("hello with a profile answered with %#v", m)
	}
	join(t, h, "52:54:00:00:00:02", 1) // an agent that names no profile
	profiles := func() map[string]string {
		out := map[string]string{}
		for _, n := range h.d.Nodes() {
			out[n.MAC] = n.Profile
		}
		return out
	}
	if got := profiles(); got["52:54:00:00:00:01"] != "tools" || got["52:54:00:00:00:02"] != "" || len(got) != 2 {
		t.Fatalf("profiles in the node table: %v, want tools and none", got)
	}

	tools.nc.Close()
	if _, m := dial(t, h, protocol.Hello{Token: h.token, MAC: "52:54:00:00:00:01", BootID: "boot-2", Profile: "default"}); m.Type() != protocol.TypeWelcome {
		t.Fatalf("hello after reboot answered with %#v", m)
	}
	if got := profiles()["52:54:00:00:00:01"]; got != "default" {
		t.Fatalf("after booting the default profile the table says %q", got)
	}
}

// The dispatcher's address and token go to every boot profile through
// ExtraCmdline; the operator's command line is left as given.
func TestDispatcherArgumentsGoToEveryProfile(t *testing.T) {
	dir, bootDir := t.TempDir(), t.TempDir()
	for _, f := range []string{"vmlinuz", "initrd.img"} {
		if err := os.WriteFile(filepath.Join(bootDir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	server := netip.MustParseAddr("10.77.0.1")
	d, err := New(Config{
		StateDir: dir, AgentAddr: ":7070", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		PXE: &pxe.Config{
			Interface: "br0", ServerIP: server, Subnet: netip.MustParsePrefix("10.77.0.0/24"),
			Ranges:   []pxe.Range{{Start: netip.MustParseAddr("10.77.0.100"), End: netip.MustParseAddr("10.77.0.199")}},
			TFTPRoot: t.TempDir(), BootDir: bootDir, Kernel: "vmlinuz", Initrd: "initrd.img", Cmdline: "console=ttyS0",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.store.Close() })
	want := "ramfarm.dispatcher=10.77.0.1:7070 ramfarm.ca=" + d.CAPin() + " ramfarm.token=" + d.Token()
	if d.cfg.PXE.ExtraCmdline != want || d.cfg.PXE.Cmdline != "console=ttyS0" {
		t.Errorf("ExtraCmdline %q, Cmdline %q; want %q and the operator's console=ttyS0", d.cfg.PXE.ExtraCmdline, d.cfg.PXE.Cmdline, want)
	}
}
