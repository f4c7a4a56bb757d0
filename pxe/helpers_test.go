package pxe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// testConfig is a valid Config over fresh directories: a TFTP root holding
// the three iPXE binaries and a boot directory holding kernel and initrd.
func testConfig(t testing.TB) Config {
	t.Helper()
	tftpRoot := t.TempDir()
	bootDir := t.TempDir()
	writeFile(t, tftpRoot, "undionly.kpxe", 70_000)
	writeFile(t, tftpRoot, "ipxe.efi", 1_000)
	writeFile(t, tftpRoot, "snponly.efi", 1_000)
	writeFile(t, bootDir, "vmlinuz", 5_000)
	writeFile(t, bootDir, "initramfs.img", 3_000)
	return Config{
		Interface: "rfpxe-test0",
		ServerIP:  netip.MustParseAddr("10.77.0.1"),
		Subnet:    netip.MustParsePrefix("10.77.0.0/24"),
		Router:    netip.MustParseAddr("10.77.0.254"),
		DNS:       []netip.Addr{netip.MustParseAddr("10.77.0.53")},
		Ranges:    []Range{{netip.MustParseAddr("10.77.0.100"), netip.MustParseAddr("10.77.0.199")}},
		TFTPAddr:  "10.77.0.1:69",
		TFTPRoot:  tftpRoot,
		HTTPAddr:  "10.77.0.1:8080",
		BootDir:   bootDir,
		Kernel:    "vmlinuz",
		Initrd:    "initramfs.img",
		Cmdline:   "console=ttyS0 ramfarm.dispatcher=10.77.0.1:7000 ramfarm.token=abc",
	}
}

// writeFile writes size bytes of a pattern that differs at every offset, so
// that a misplaced range or block shows.
func writeFile(t testing.TB, dir, name string, size int) {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i/251)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// testServer is a Server built by New from cfg (edited by edit, if given),
// with its clock under the test's control and its log captured.
type testServer struct {
	*Server
	logs  *logBuffer
	clock *fakeClock
}

// testEpoch is when every test server's clock starts.
var testEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestServer(t testing.TB, edit func(*Config)) *testServer {
	t.Helper()
	return newTestServerAt(t, &fakeClock{now: testEpoch}, edit)
}

// newTestServerAt is newTestServer with the clock given, so that a server
// restarted on the same LeaseStore goes on where the first one was.
func newTestServerAt(t testing.TB, clock *fakeClock, edit func(*Config)) *testServer {
	t.Helper()
	cfg := testConfig(t)
	if edit != nil {
		edit(&cfg)
	}
	logger, logs := newTestLogger()
	cfg.Logger = logger
	// New loads the leases by the real clock; the store is handed over
	// after New, to load them by the test's.
	store := cfg.Leases
	cfg.Leases = nil
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.dhcp != nil { // nil in proxy mode, which keeps no leases
		s.dhcp.now = clock.Now
		s.dhcp.store = store
		if err := s.dhcp.loadLeases(); err != nil {
			t.Fatal(err)
		}
	}
	return &testServer{Server: s, logs: logs, clock: clock}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logBuffer collects JSON log lines; entries decodes them.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func newTestLogger() (*slog.Logger, *logBuffer) {
	logs := &logBuffer{}
	return slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), logs
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) entries(t testing.TB) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var entries []map[string]any
	lines := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for lines.Scan() {
		var e map[string]any
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			t.Fatalf("log line %q: %v", lines.Text(), err)
		}
		entries = append(entries, e)
	}
	return entries
}

// find returns the first entry with message msg whose attributes include
// all of attrs, or nil.
func (b *logBuffer) find(t testing.TB, msg string, attrs map[string]any) map[string]any {
	t.Helper()
next:
	for _, e := range b.entries(t) {
		if e["msg"] != msg {
			continue
		}
		for k, v := range attrs {
			if e[k] != v {
				continue next
			}
		}
		return e
	}
	return nil
}

// Client-side DHCP messages, as firmware of each kind sends them.

var (
	asIPXE = []dhcpv4.Modifier{
		dhcpv4.WithUserClass("iPXE", false),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(0)),
	}
	asBIOSPXE = []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(0)),
	}
)

// asPXE is a PXE ROM of the given architecture (option 93).
func asPXE(arch iana.Arch) []dhcpv4.Modifier {
	return []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(arch)),
	}
}

// asHTTPBoot is UEFI HTTP Boot of the given architecture.
func asHTTPBoot(arch iana.Arch) []dhcpv4.Modifier {
	return []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("HTTPClient:Arch:00016:UNDI:003001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(arch)),
	}
}

func mustMAC(s string) net.HardwareAddr {
	mac, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return mac
}

// message builds a client message of type mt from mac.
func message(t testing.TB, mt dhcpv4.MessageType, mac string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.New(append([]dhcpv4.Modifier{
		dhcpv4.WithHwAddr(mustMAC(mac)),
		dhcpv4.WithMessageType(mt),
	}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// exchange sends m through the handler as a broadcast on the server's
// interface and returns the reply, or nil.
func (s *testServer) exchange(t testing.TB, m *dhcpv4.DHCPv4) *reply {
	t.Helper()
	return s.dhcp.handle(m.ToBytes(), broadcastArrival)
}

// broadcastArrival is a packet broadcast on Config.Interface, whose index
// the handler has as 0 until Run.
var broadcastArrival = arrival{
	peer: netip.AddrPortFrom(netip.IPv4Unspecified(), dhcpv4.ClientPort),
	dst:  netip.AddrFrom4([4]byte{255, 255, 255, 255}),
}

// discover sends a DISCOVER from mac and fails the test unless it gets an OFFER.
func (s *testServer) discover(t testing.TB, mac string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	out := s.exchange(t, message(t, dhcpv4.MessageTypeDiscover, mac, mods...))
	if out == nil {
		t.Fatalf("DISCOVER from %s got no reply; log:\n%s", mac, s.logs)
	}
	offer := onTheWire(t, out.msg)
	if got := offer.MessageType(); got != dhcpv4.MessageTypeOffer {
		t.Fatalf("DISCOVER from %s got %v, want OFFER", mac, got)
	}
	return offer
}

// onTheWire is m as a client decodes it after it crossed the network.
func onTheWire(t testing.TB, m *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	t.Helper()
	decoded, err := dhcpv4.FromBytes(m.ToBytes())
	if err != nil {
		t.Fatalf("reply does not decode: %v\n%s", err, m.Summary())
	}
	return decoded
}

// request sends a SELECTING-state REQUEST for addr, naming serverID, and
// returns the reply (nil if none).
func (s *testServer) request(t testing.TB, mac string, addr, serverID string, mods ...dhcpv4.Modifier) *reply {
	t.Helper()
	mods = append(mods, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(addr))))
	if serverID != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(serverID))))
	}
	return s.exchange(t, message(t, dhcpv4.MessageTypeRequest, mac, mods...))
}

// plantEscapes puts a file named "secret" beside root and a symbolic link
// "link-out" to it inside root, for tests that a server stays in its root.
func plantEscapes(t testing.TB, root string) {
	t.Helper()
	secret := filepath.Join(filepath.Dir(root), "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(root, "link-out")); err != nil {
		t.Fatal(err)
	}
}

// serveUntilCleanup runs one of the servers' run methods until the test ends,
// and checks it then stops cleanly.
func serveUntilCleanup(t *testing.T, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("server stopped with %v", err)
		}
	})
}
