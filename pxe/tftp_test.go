package pxe

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pin/tftp/v3"
)

// startTFTP serves s's TFTP root on a loopback port and returns its address.
func startTFTP(t *testing.T, s *testServer) string {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveUntilCleanup(t, func(ctx context.Context) error { return s.tftp.run(ctx, conn) })
	return conn.LocalAddr().String()
}

func TestTFTPServesFilesWithSize(t *testing.T) {
	s := newTestServer(t, nil)
	want, err := os.ReadFile(filepath.Join(s.cfg.TFTPRoot, "undionly.kpxe"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := tftp.NewClient(startTFTP(t, s))
	if err != nil {
		t.Fatal(err)
	}
	client.RequestTSize(true)
	client.SetBlockSize(1468)
	// Firmware asks with and without the leading slash; both are the same file.
	for _, name := range []string{"undionly.kpxe", "/undionly.kpxe"} {
		transfer, err := client.Receive(name, "octet")
		if err != nil {
			t.Fatalf("Receive(%q): %v", name, err)
		}
		if size, ok := transfer.(tftp.IncomingTransfer).Size(); !ok || size != int64(len(want)) {
			t.Errorf("tsize %d (sent: %v), want %d", size, ok, len(want))
		}
		var got bytes.Buffer
		if _, err := transfer.WriteTo(&got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: got %d bytes that differ from the file's %d", name, got.Len(), len(want))
		}
	}
	// The server counts a transfer once the last ACK is in, which can be
	// after the client is done.
	waitFor(t, func() bool { return s.Stats().TFTP.Transfers == 2 })
	if got := s.Stats().TFTP; got.Bytes != uint64(2*len(want)) || got.Failures != 0 {
		t.Errorf("stats %+v, want 2 transfers of %d bytes, no failures", got, len(want))
	}
}

func TestTFTPRefusesPathsOutsideItsRoot(t *testing.T) {
	s := newTestServer(t, nil)
	plantEscapes(t, s.cfg.TFTPRoot)
	if err := os.Mkdir(filepath.Join(s.cfg.TFTPRoot, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	client, err := tftp.NewClient(startTFTP(t, s))
	if err != nil {
		t.Fatal(err)
	}
	client.SetTimeout(time.Second)
	refused := []string{
		"../secret",
		"/../secret",
		"dir/../../secret",
		filepath.Join(filepath.Dir(s.cfg.TFTPRoot), "secret"), // absolute: the leading slash goes, the rest is not in the root
		"//undionly.kpxe",
		"link-out",
		"dir",
		"missing.efi",
		"",
	}
	for _, name := range refused {
		transfer, err := client.Receive(name, "octet")
		if err == nil {
			var got bytes.Buffer
			transfer.WriteTo(&got)
			t.Errorf("Receive(%q) sent %q, want a refusal", name, got.String())
			continue
		}
		if strings.Contains(err.Error(), "timeout") {
			t.Errorf("Receive(%q) timed out, want an error packet", name)
		}
		if s.logs.find(t, "TFTP request refused", map[string]any{"file": name, "level": "WARN"}) == nil {
			t.Errorf("refusal of %q not logged; log:\n%s", name, s.logs)
		}
	}
	if got := s.Stats().TFTP; got.Failures != uint64(len(refused)) || got.Transfers != 0 {
		t.Errorf("stats %+v, want %d failures and no transfers", got, len(refused))
	}
}

// TestTFTPToleratesUEFISizeProbe plays UEFI firmware: it asks for a file
// with tsize, and answers the server's option acknowledgement with error 8
// once it knows the size. That is no failure and no cause for a warning.
func TestTFTPToleratesUEFISizeProbe(t *testing.T) {
	s := newTestServer(t, nil)
	server, err := net.ResolveUDPAddr("udp4", startTFTP(t, s))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))

	rrq := []byte("\x00\x01ipxe.efi\x00octet\x00tsize\x000\x00blksize\x001468\x00")
	if _, err := conn.WriteToUDP(rrq, server); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 600)
	n, transferPort, err := conn.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	const opOACK, opERROR = 6, 5
	if op := binary.BigEndian.Uint16(buf); op != opOACK || !bytes.Contains(buf[:n], []byte("tsize\x001000\x00")) {
		t.Fatalf("got %q, want an OACK with tsize 1000", buf[:n])
	}
	refusal := []byte("\x00\x05\x00\x08User aborted the transfer\x00")
	if _, err := conn.WriteToUDP(refusal, transferPort); err != nil {
		t.Fatal(err)
	}
	// pin/tftp closes the transfer with an error packet of its own.
	if n, _, err := conn.ReadFromUDP(buf); err != nil || binary.BigEndian.Uint16(buf) != opERROR {
		t.Fatalf("after the refusal got %q, %v; want the server's error packet", buf[:n], err)
	}

	waitFor(t, func() bool { return s.logs.find(t, "TFTP size probe answered", nil) != nil })
	if got := s.Stats().TFTP; got.Failures != 0 || got.Transfers != 0 {
		t.Errorf("stats %+v after a size probe, want nothing counted", got)
	}
	for _, e := range s.logs.entries(t) {
		if e["level"] == "WARN" {
			t.Errorf("size probe logged a warning: %v", e)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
	}
}
