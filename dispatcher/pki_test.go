package dispatcher

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/protocol"
)

// The CA is made once and kept: a restart must not change the pin nodes
// were booted with. Its key is private; a half-present CA is an error.
func TestClusterCAIsStableAndPrivate(t *testing.T) {
	dir := t.TempDir()
	first, err := loadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := loadOrCreateCA(dir)
	if err != nil || again.Pin() != first.Pin() {
		t.Fatalf("second start: pin %v (err %v), want the first start's %s", again, err, first.Pin())
	}
	info, err := os.Stat(filepath.Join(dir, caKeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode %v (err %v), want 0600", info.Mode().Perm(), err)
	}
	os.Remove(filepath.Join(dir, caCertFile))
	if _, err := loadOrCreateCA(dir); err == nil || !strings.Contains(err.Error(), "need both") {
		t.Fatalf("CA key without certificate: %v, want an error, not a new CA", err)
	}
}

// An agent that pins another CA refuses the dispatcher; one that speaks no
// TLS is dropped with a logged reason; neither disturbs a good agent.
func TestAgentConnectionIsTLSWithThePinnedCA(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	good := join(t, h, "52:54:00:00:02:01", 1)

	other, err := protocol.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	conf, _ := protocol.AgentTLS(other.Pin())
	if nc, err := tls.Dial("tcp", h.addr, conf); err == nil {
		nc.Close()
		t.Fatal("an agent pinning another CA completed the handshake")
	} else if !strings.Contains(err.Error(), "pinned cluster CA") {
		t.Fatalf("wrong-CA handshake failed with %v, want the pin mismatch", err)
	}

	plain, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	pc := protocol.NewConn(plain)
	pc.Send(&protocol.Hello{Version: protocol.Version, Token: h.token, MAC: "52:54:00:00:02:02", Cores: 1, BootID: "b"})
	plain.SetReadDeadline(time.Now().Add(5 * time.Second))
	if m, err := pc.Receive(); err == nil {
		t.Fatalf("a plain-text hello was answered with %s", m.Type())
	}

	ids := submit(t, h, "still served")
	good.send(&protocol.Request{Slots: 1})
	if task := good.task(); task.ID != ids[0] {
		t.Fatalf("good agent got task %d, want %d", task.ID, ids[0])
	}
}

// What a node booted by other means needs is in STATE_DIR/node-args, for
// root only.
func TestNodeArgsFile(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	b, err := os.ReadFile(filepath.Join(h.dir, nodeArgsFile))
	if err != nil {
		t.Fatal(err)
	}
	want := "ramfarm.dispatcher=" + h.addr + " ramfarm.ca=" + h.d.CAPin() + " ramfarm.token=" + h.token + "\n"
	if string(b) != want {
		t.Fatalf("node-args %q, want %q", b, want)
	}
	if info, _ := os.Stat(filepath.Join(h.dir, nodeArgsFile)); info.Mode().Perm() != 0o600 {
		t.Fatalf("node-args mode %v, want 0600", info.Mode().Perm())
	}
}

// An agent speaking only a newer protocol is refused with a reason that
// says so; one that also speaks ours is welcomed in ours.
func TestHelloNegotiatesTheVersion(t *testing.T) {
	h := startDispatcher(t, t.TempDir())
	_, m := dial(t, h, protocol.Hello{Token: h.token, MAC: "52:54:00:00:02:03", Version: protocol.Version + 1, MinVersion: protocol.Version + 1})
	if r, ok := m.(*protocol.Reject); !ok || !strings.Contains(r.Reason, "no protocol version in common") {
		t.Fatalf("hello from a newer-only agent answered with %#v, want a reject naming the versions", m)
	}
	_, m = dial(t, h, protocol.Hello{Token: h.token, MAC: "52:54:00:00:02:04", Version: protocol.Version + 1, MinVersion: protocol.MinVersion})
	if w, ok := m.(*protocol.Welcome); !ok || w.Version != protocol.Version {
		t.Fatalf("hello from a newer agent that speaks ours answered with %#v, want welcome in version %d", m, protocol.Version)
	}
}
