package bench

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pin/tftp/v3"
)

var testMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

func TestTFTPBootScriptParses(t *testing.T) {
	script := tftpBootScript("10.80.0.1", "vmlinuz", "ramfarm-node.cpio.zst", "console=ttyS0 ramfarm.token=x")
	got, err := parseBootScript(script, testMAC)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kernel.String() != "tftp://10.80.0.1/vmlinuz" || got.Initrd.String() != "tftp://10.80.0.1/ramfarm-node.cpio.zst" {
		t.Errorf("kernel %s, initrd %s", got.Kernel, got.Initrd)
	}
	// The same arguments, in the same order, as ramfarm's own script.
	want := "initrd=ramfarm-node.cpio.zst console=ttyS0 ramfarm.token=x BOOTIF=01-52-54-00-12-34-56"
	if got.Cmdline != want {
		t.Errorf("command line %q, want %q", got.Cmdline, want)
	}
}

// ramfarmScript is what pxe.renderScript writes for a node.
const ramfarmScript = `#!ipxe
kernel http://10.80.0.1:8080/boot/vmlinuz initrd=ramfarm-node.cpio.zst console=ttyS0 ramfarm.dispatcher=10.80.0.1:7070 ramfarm.token=T BOOTIF=01-${netX/mac:hexhyp}
initrd http://10.80.0.1:8080/boot/ramfarm-node.cpio.zst
boot
`

func TestParseRamfarmScript(t *testing.T) {
	got, err := parseBootScript(ramfarmScript, testMAC)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kernel.String() != "http://10.80.0.1:8080/boot/vmlinuz" || got.Initrd.String() != "http://10.80.0.1:8080/boot/ramfarm-node.cpio.zst" {
		t.Errorf("kernel %s, initrd %s", got.Kernel, got.Initrd)
	}
	if !strings.HasSuffix(got.Cmdline, "BOOTIF=01-52-54-00-12-34-56") {
		t.Errorf("command line %q: BOOTIF not expanded for %s", got.Cmdline, testMAC)
	}
}

func TestParseBootScriptRefuses(t *testing.T) {
	for name, script := range map[string]string{
		"not a script":   "kernel http://a/k\ninitrd http://a/i\n",
		"no initrd":      "#!ipxe\nkernel http://a/k\nboot\n",
		"no kernel":      "#!ipxe\ninitrd http://a/i\nboot\n",
		"other scheme":   "#!ipxe\nkernel ftp://a/k\ninitrd http://a/i\n",
		"relative":       "#!ipxe\nkernel k\ninitrd i\n",
		"other variable": "#!ipxe\nkernel http://${next-server}/k\ninitrd http://a/i\n",
	} {
		if _, err := parseBootScript(script, testMAC); err == nil {
			t.Errorf("%s: accepted %q", name, script)
		}
	}
}

func TestBootFileURL(t *testing.T) {
	ack := func(mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
		m, err := dhcpv4.New(mods...)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, c := range []struct {
		name string
		ack  *dhcpv4.DHCPv4
		want string // "" means an error
	}{
		{"URL in option 67", ack(dhcpv4.WithOption(dhcpv4.OptBootFileName("http://10.80.0.1:8080/boot.ipxe"))), "http://10.80.0.1:8080/boot.ipxe"},
		{"name in file field and next-server", ack(dhcpv4.WithServerIP(net.IPv4(10, 80, 0, 1)), func(m *dhcpv4.DHCPv4) { m.BootFileName = "undionly.kpxe" }), "tftp://10.80.0.1/undionly.kpxe"},
		{"name without next-server", ack(func(m *dhcpv4.DHCPv4) { m.BootFileName = "boot.ipxe" }), ""},
		{"no boot file", ack(dhcpv4.WithServerIP(net.IPv4(10, 80, 0, 1))), ""},
	} {
		u, err := bootFileURL(c.ack)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("%s: got %s, want an error", c.name, u)
		case c.want != "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && u.String() != c.want:
			t.Errorf("%s: got %s, want %s", c.name, u, c.want)
		}
	}
}

// servedFile writes content to a file in dir and returns its path and digest.
func servedFile(t *testing.T, dir, name string, content []byte) (string, fileDigest) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := digestFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, d
}

// TestFetcherChecksEveryByte downloads one file over real HTTP and TFTP
// servers on loopback, and checks that a right file passes, a wrong one
// fails without retries, and a missing one fails after them.
func TestFetcherChecksEveryByte(t *testing.T) {
	dir := t.TempDir()
	content := []byte(strings.Repeat("ramfarm node image ", 5000)) // several TFTP blocks
	path, want := servedFile(t, dir, "vmlinuz", content)

	web := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer web.Close()
	tftpURL := serveTFTP(t, dir)

	ctx := context.Background()
	f := newFetcher()
	defer f.close()
	for _, base := range []string{web.URL, tftpURL} {
		u, _ := url.Parse(base + "/vmlinuz")
		if restarts, err := f.fetch(ctx, u, want); err != nil || restarts != 0 {
			t.Errorf("%s: %d restarts, %v", u, restarts, err)
		}
		wrong := want
		wrong.SHA256 = strings.Repeat("0", 64)
		if restarts, err := f.fetch(ctx, u, wrong); err == nil || restarts != 0 {
			t.Errorf("%s with a wrong digest: %d restarts, err %v; want an error and no restart", u, restarts, err)
		}
		missing, _ := url.Parse(base + "/initrd")
		if restarts, err := f.fetch(ctx, missing, want); err == nil || restarts != fetchAttempts-1 {
			t.Errorf("%s (missing): %d restarts, err %v; want an error after %d restarts", missing, restarts, err, fetchAttempts-1)
		}
	}
	if err := os.Truncate(path, int64(len(content)-1)); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(web.URL + "/vmlinuz")
	if _, err := f.fetch(ctx, u, want); err == nil {
		t.Error("a file one byte short passed")
	}
}

// serveTFTP serves dir read-only over TFTP on loopback and returns its
// tftp:// base URL.
func serveTFTP(t *testing.T, dir string) string {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	srv := tftp.NewServer(func(name string, rf io.ReaderFrom) error {
		f, err := os.Open(filepath.Join(dir, filepath.Base(name)))
		if err != nil {
			return err
		}
		defer f.Close()
		info, _ := f.Stat()
		rf.(tftp.OutgoingTransfer).SetSize(info.Size())
		_, err = rf.ReadFrom(f)
		return err
	}, nil)
	go srv.Serve(conn)
	t.Cleanup(srv.Shutdown)
	return "tftp://" + conn.LocalAddr().String()
}

// fakeDHCP answers relayed requests on loopback: OFFER, then ACK, after
// dropping the first `drop` packets. It records what it received.
type fakeDHCP struct {
	conn *net.UDPConn
	got  chan *dhcpv4.DHCPv4
	nak  bool
}

func newFakeDHCP(t *testing.T, drop int, nak bool) *fakeDHCP {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &fakeDHCP{conn: conn, got: make(chan *dhcpv4.DHCPv4, 16), nak: nak}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			m, err := dhcpv4.FromBytes(buf[:n])
			if err != nil {
				continue
			}
			s.got <- m
			if drop > 0 {
				drop--
				continue
			}
			reply, _ := dhcpv4.NewReplyFromRequest(m, dhcpv4.WithYourIP(net.IPv4(10, 80, 1, 7)),
				dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 80, 0, 1))))
			switch {
			case m.MessageType() == dhcpv4.MessageTypeDiscover:
				reply.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer))
			case s.nak:
				reply.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeNak))
			default:
				reply.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
			}
			conn.WriteToUDP(reply.ToBytes(), from) // a real server answers giaddr:67
		}
	}()
	return s
}

func TestRelayExchangeAsIPXE(t *testing.T) {
	srv := newFakeDHCP(t, 1, false) // the first DISCOVER is lost: one resend
	r, err := newRelayDHCP(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, srv.conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ack, resends, err := r.exchange(context.Background(), testMAC, ipxe)
	if err != nil {
		t.Fatal(err)
	}
	if resends != 1 || ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(net.IPv4(10, 80, 1, 7)) {
		t.Errorf("%d resends, reply %s for %s; want 1 resend and an ACK for 10.80.1.7", resends, ack.MessageType(), ack.YourIPAddr)
	}
	var types []dhcpv4.MessageType
	for len(srv.got) > 0 {
		m := <-srv.got
		types = append(types, m.MessageType())
		if !m.GatewayIPAddr.Equal(net.IPv4(127, 0, 0, 1)) || m.HopCount != 1 || m.IsBroadcast() {
			t.Errorf("%s: giaddr %s, hops %d, broadcast %v; want a relayed unicast", m.MessageType(), m.GatewayIPAddr, m.HopCount, m.IsBroadcast())
		}
		if !strings.HasPrefix(m.ClassIdentifier(), "PXEClient") || len(m.ClientArch()) != 1 || m.ClientArch()[0] != 0 ||
			m.GetOneOption(dhcpv4.OptionEtherboot) == nil || len(m.UserClass()) != 1 || m.UserClass()[0] != "iPXE" {
			t.Errorf("%s does not look like iPXE's: %s", m.MessageType(), m.Summary())
		}
	}
	want := []dhcpv4.MessageType{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest}
	if len(types) != len(want) || types[0] != want[0] || types[1] != want[1] || types[2] != want[2] {
		t.Errorf("server got %v, want %v", types, want)
	}
}

func TestRelayExchangeNAK(t *testing.T) {
	srv := newFakeDHCP(t, 0, true)
	r, err := newRelayDHCP(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, srv.conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, _, err := r.exchange(context.Background(), testMAC, pxeROM); err == nil || !strings.Contains(err.Error(), "NAK") {
		t.Fatalf("a NAK gave %v, want a NAK error", err)
	}
	if m := <-srv.got; m.GetOneOption(dhcpv4.OptionEtherboot) != nil || len(m.UserClass()) != 0 {
		t.Errorf("a PXE ROM's DISCOVER carries iPXE's options: %s", m.Summary())
	}
}

func TestRelayExchangeGivesUp(t *testing.T) {
	srv := newFakeDHCP(t, 1000, false)
	r, err := newRelayDHCP(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, srv.conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if _, _, err := r.exchange(ctx, testMAC, pxeROM); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a silent server gave %v, want the deadline", err)
	}
}

func TestSummarize(t *testing.T) {
	s := time.Second
	outcomes := []clientOutcome{
		{phases: [phaseCount]time.Duration{1 * s, 2 * s, 3 * s}, resends: 1},
		{phases: [phaseCount]time.Duration{3 * s, 1 * s, 9 * s}, restarts: 2},
		{phases: [phaseCount]time.Duration{2 * s, 3 * s, 6 * s}},
	}
	for range maxErrors + 2 {
		outcomes = append(outcomes, clientOutcome{phases: [phaseCount]time.Duration{100 * s}, err: errors.New("lost")})
	}
	r := summarize(42*s, outcomes)
	if r.Wall != 42*s || r.Failures != maxErrors+2 || len(r.Errors) != maxErrors || r.Resends != 1 || r.Restarts != 2 {
		t.Errorf("got %+v", r)
	}
	// Failed clients' phases are left out of the figures.
	if r.P50 != [phaseCount]time.Duration{2 * s, 2 * s, 6 * s} || r.Max != [phaseCount]time.Duration{3 * s, 3 * s, 9 * s} {
		t.Errorf("p50 %v, max %v", r.P50, r.Max)
	}
}

func TestMedian(t *testing.T) {
	s := time.Second
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{7 * s}, 7 * s},
		{[]time.Duration{9 * s, 1 * s, 5 * s}, 5 * s},
		{[]time.Duration{4 * s, 1 * s, 3 * s, 2 * s}, 2 * s},
	} {
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
