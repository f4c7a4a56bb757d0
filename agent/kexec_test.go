package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/protocol"
)

// A failed kexec leaves the node up: the agent drops the connection and
// registers again with the same boot id, so the dispatcher sees the node
// ready again rather than rebooting forever.
func TestFailedKexecKeepsTheNodeUp(t *testing.T) {
	f := newFakeDispatcher(t)
	asked := make(chan protocol.BootImage, 1)
	a := New(Config{
		CAPin: testCA().Pin(), Dispatcher: f.ln.Addr().String(), MAC: "52:54:00:00:00:01", BootID: "b", Cores: 1, WorkDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Kexec:  func(img protocol.BootImage) error { asked <- img; return errors.New("sha256 mismatch") },
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	pc, first := f.accept()
	img := protocol.BootImage{
		Kernel: "http://10.0.0.1/boot/vmlinuz", KernelSHA256: strings.Repeat("a", 64),
		Initrd: "http://10.0.0.1/boot/i.img", InitrdSHA256: strings.Repeat("b", 64), Cmdline: "BOOTIF=01-52-54-00-00-00-01",
	}
	pc.Send(&protocol.Command{Op: protocol.OpKexec, Boot: &img})
	select {
	case got := <-asked:
		if got != img {
			t.Fatalf("Kexec got %+v, want %+v", got, img)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("kexec command did not call Kexec")
	}
	_, again := f.accept()
	if again.BootID != first.BootID {
		t.Fatalf("registered again with boot id %q, want the same %q", again.BootID, first.BootID)
	}
}
