package pxe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/pin/tftp/v3"
	"github.com/vishvananda/netns"
)

// TestServerOverVeth runs a real Server in a network namespace of its own
// and plays a node from a second namespace, over a veth pair between them:
// junk first, then DHCP, IPv6 router discovery, TFTP and HTTP as firmware
// and iPXE would. Nothing touches the host's interfaces; the namespaces go
// away when the test ends.
func TestServerOverVeth(t *testing.T) {
	mustBeRoot(t)
	lab := newVethLab(t)
	dirs := newLabDirs(t)
	plantEscapes(t, dirs.BootDir)
	server := lab.startServer(t, dirs)
	server.waitUntilServing(t)

	const serverURL = "http://10.199.0.1:8080"
	mac := lab.clientInterface(t).HardwareAddr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// DHCP, after junk the server must survive.
	raw := lab.rawClientConn(t, lab.clientIface)
	validDiscover := message(t, dhcpv4.MessageTypeDiscover, mac.String()).ToBytes()
	bootReply := bytes.Clone(validDiscover)
	bootReply[0] = byte(dhcpv4.OpcodeBootReply)
	badCookie := bytes.Clone(validDiscover)
	badCookie[bootpHeaderLen] = 0
	for _, junk := range [][]byte{[]byte("hello, dhcp"), bootReply, badCookie} {
		if _, err := raw.WriteTo(junk, &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ServerPort}); err != nil {
			t.Fatal(err)
		}
	}
	client, err := nclient4.NewWithConn(raw, mac, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(3))
	if err != nil {
		t.Fatal(err)
	}
	lease, err := client.Request(ctx, asIPXE...)
	if err != nil {
		t.Fatalf("DHCP as iPXE after junk: %v", err)
	}
	leased := lease.ACK.YourIPAddr
	if !leased.Equal(lease.Offer.YourIPAddr) || !strings.HasPrefix(leased.String(), "10.199.0.1") {
		t.Errorf("offered %v, acked %v; want the same address from 10.199.0.100-110", lease.Offer.YourIPAddr, leased)
	}
	if got := lease.Offer.BootFileNameOption(); got != serverURL+"/boot.ipxe?mac="+strings.ReplaceAll(mac.String(), ":", "-") {
		t.Errorf("iPXE offered boot file %q", got)
	}
	offer, err := client.DiscoverOffer(ctx, asBIOSPXE...)
	if err != nil {
		t.Fatalf("DHCP as a BIOS PXE ROM: %v", err)
	}
	if offer.BootFileName != "undionly.kpxe" || offer.ServerIPAddr.String() != "10.199.0.1" || !offer.YourIPAddr.Equal(leased) {
		t.Errorf("BIOS PXE offer: file %q from %v for %v; want undionly.kpxe from 10.199.0.1 for %v",
			offer.BootFileName, offer.ServerIPAddr, offer.YourIPAddr, leased)
	}
	client.Close()
	lab.ip(t, "-n", lab.clientNS, "addr", "add", leased.String()+"/24", "dev", lab.clientIface)

	// IPv6 router discovery, which iPXE starts alongside DHCP.
	lab.checkRouterDiscovery(t)

	// TFTP, as a PXE ROM would fetch iPXE.
	undionly, err := os.ReadFile(filepath.Join(dirs.TFTPRoot, "undionly.kpxe"))
	if err != nil {
		t.Fatal(err)
	}
	if got := lab.tftpGet(t, "/undionly.kpxe"); !bytes.Equal(got, undionly) {
		t.Errorf("TFTP /undionly.kpxe: %d bytes that differ from the file's %d", len(got), len(undionly))
	}
	if err := lab.tftpGetErr("../secret"); err == nil {
		t.Error("TFTP ../secret was served")
	}

	// HTTP, as iPXE fetches its script and the kernel.
	http := lab.httpClient()
	resp, body := fetch(t, http, "GET", lease.Offer.BootFileNameOption(), nil) // the URL iPXE would follow
	if !strings.Contains(body, "kernel "+serverURL+"/boot/vmlinuz initrd=initramfs.img console=ttyS0") {
		t.Errorf("script (%s):\n%s", resp.Status, body)
	}
	kernel, err := os.ReadFile(filepath.Join(dirs.BootDir, "vmlinuz"))
	if err != nil {
		t.Fatal(err)
	}
	resp, body = fetch(t, http, "GET", serverURL+"/boot/vmlinuz", map[string]string{"Range": "bytes=100-199"})
	if resp.StatusCode != 206 || body != string(kernel[100:200]) {
		t.Errorf("Range request: %s, %d bytes", resp.Status, len(body))
	}
	if resp, body = fetch(t, http, "GET", serverURL+"/boot/../secret", nil); resp.StatusCode != 404 || body == "secret" {
		t.Errorf("GET /boot/../secret: %s %q", resp.Status, body)
	}

	stats := server.stop(t)
	dhcp := stats.DHCP
	if dhcp.Offers != 2 || dhcp.Acks != 1 || dhcp.Drops["truncated"] != 1 ||
		dhcp.Drops["not-a-request"] != 1 || dhcp.Drops["bad-magic-cookie"] != 1 {
		t.Errorf("DHCP stats %+v, want 2 offers, 1 ack, junk dropped as truncated, not-a-request, bad-magic-cookie", dhcp)
	}
	if tftp := stats.TFTP; tftp.Transfers != 1 || tftp.Bytes != uint64(len(undionly)) || tftp.Failures != 1 {
		t.Errorf("TFTP stats %+v, want 1 transfer of %d bytes and 1 refusal", tftp, len(undionly))
	}
	if ra := stats.RA; ra.Solicitations != 3 || ra.Advertisements != 1 || len(ra.Drops) != 2 ||
		ra.Drops["bad-hop-limit"] != 1 || ra.Drops["rate-limited"] != 1 {
		t.Errorf("RA stats %+v, want 3 solicitations, 1 advertisement, 1 drop each for bad-hop-limit and rate-limited", ra)
	}
}

// mustBeRoot fails t unless it runs as root, as the labs need to create
// network namespaces and veth pairs. Never a skip: a skipped lab test
// proves nothing and looks like a pass.
func mustBeRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("%s must run as root: it creates network namespaces and veth pairs", t.Name())
	}
}

// newLabDirs is a TFTP root and a boot directory for a lab server.
func newLabDirs(t *testing.T) labDirs {
	cfg := testConfig(t)
	return labDirs{TFTPRoot: cfg.TFTPRoot, BootDir: cfg.BootDir}
}

// rawClientConn is a DHCP client's socket on iface in the client
// namespace: it sends and receives whole frames, as firmware does, so it
// needs no address. It closes when the test ends.
func (lab *vethLab) rawClientConn(t *testing.T, iface string) net.PacketConn {
	t.Helper()
	var raw net.PacketConn
	if err := lab.inClient(func() (err error) {
		raw, err = nclient4.NewRawUDPConn(iface, dhcpv4.ClientPort)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// vethLab is two network namespaces joined by a veth pair: the server's end
// with 10.199.0.1/24, the client's without an address until DHCP gives one.
type vethLab struct {
	serverNS, clientNS       string
	serverIface, clientIface string
	client                   netns.NsHandle
}

func newVethLab(t *testing.T) *vethLab {
	lab := &vethLab{
		serverNS:    fmt.Sprintf("rfpxe-%d-srv", os.Getpid()),
		clientNS:    fmt.Sprintf("rfpxe-%d-cli", os.Getpid()),
		serverIface: "rfpxe0", // labConfig's Interface
		clientIface: "rfpxe1",
	}
	t.Cleanup(func() {
		out, err := exec.Command("ip", "netns", "list").CombinedOutput()
		if err != nil || strings.Contains(string(out), fmt.Sprintf("rfpxe-%d-", os.Getpid())) {
			t.Errorf("namespaces left behind (%v):\n%s", err, out)
		}
	})
	for _, ns := range []string{lab.serverNS, lab.clientNS} {
		lab.ip(t, "netns", "add", ns)
		t.Cleanup(func() {
			// Deleting the namespace takes the veth end in it along.
			if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns delete %s: %v: %s", ns, err, out)
			}
		})
	}
	lab.ip(t, "-n", lab.serverNS, "link", "add", lab.serverIface, "address", labServerMAC, "type", "veth",
		"peer", "name", lab.clientIface, "netns", lab.clientNS)
	lab.ip(t, "-n", lab.serverNS, "addr", "add", "10.199.0.1/24", "dev", lab.serverIface)
	ends := map[string]string{lab.serverNS: lab.serverIface, lab.clientNS: lab.clientIface}
	for ns, iface := range ends {
		lab.enableQuietIPv6(t, ns, iface)
		lab.ip(t, "-n", ns, "link", "set", "lo", "up")
		lab.ip(t, "-n", ns, "link", "set", iface, "up")
	}
	for ns, iface := range ends {
		lab.waitForLinkLocal(t, ns, iface)
	}
	var err error
	if lab.client, err = netns.GetFromName(lab.clientNS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.client.Close() })
	return lab
}

func (lab *vethLab) ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// inClient runs fn on an OS thread that has joined the client namespace,
// so that the sockets fn opens belong there. The thread stays locked and
// ends with its goroutine: no other goroutine ever runs in the namespace.
func (lab *vethLab) inClient(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(lab.client); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func (lab *vethLab) clientInterface(t *testing.T) *net.Interface {
	var iface *net.Interface
	if err := lab.inClient(func() (err error) {
		iface, err = net.InterfaceByName(lab.clientIface)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return iface
}

// httpClient dials from the client namespace and does not follow redirects.
func (lab *vethLab) httpClient() *http.Client {
	dial := func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
		err = lab.inClient(func() error {
			conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
	return &http.Client{
		Transport:     &http.Transport{DialContext: dial},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

func (lab *vethLab) tftpGet(t *testing.T, name string) []byte {
	t.Helper()
	var got bytes.Buffer
	if err := lab.tftpReceive(name, &got); err != nil {
		t.Fatalf("TFTP %s: %v", name, err)
	}
	return got.Bytes()
}

func (lab *vethLab) tftpGetErr(name string) error {
	return lab.tftpReceive(name, io.Discard)
}

func (lab *vethLab) tftpReceive(name string, w io.Writer) error {
	client, err := tftp.NewClient("10.199.0.1:69")
	if err != nil {
		return err
	}
	client.RequestTSize(true)
	client.SetBlockSize(1468)
	client.SetTimeout(2 * time.Second)
	var transfer io.WriterTo
	if err := lab.inClient(func() (err error) {
		transfer, err = client.Receive(name, "octet")
		return err
	}); err != nil {
		return err
	}
	_, err = transfer.WriteTo(w)
	return err
}

// labServer is the test binary running as a Server (see runLabServer) in the
// server namespace.
type labServer struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	stdout  bytes.Buffer // Stats as JSON; read only after exited is closed
	output  logBuffer    // the server's log
}

func (lab *vethLab) startServer(t *testing.T, dirs labDirs) *labServer {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dirsJSON, err := json.Marshal(dirs)
	if err != nil {
		t.Fatal(err)
	}
	s := &labServer{exited: make(chan struct{})}
	s.cmd = exec.Command("ip", "netns", "exec", lab.serverNS, self, "-test.run=^$")
	s.cmd.Env = append(os.Environ(), labServerEnv+"="+string(dirsJSON))
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.output
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("server output:\n%s", s.output.String())
		}
	})
	return s
}

// waitUntilServing waits for the server's "PXE server running" log line,
// which Run writes once all three listeners are open.
func (s *labServer) waitUntilServing(t *testing.T) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for !strings.Contains(s.output.String(), "PXE server running") {
		select {
		case <-s.exited:
			t.Fatalf("server exited (%v) before serving:\n%s", s.waitErr, s.output.String())
		case <-deadline:
			t.Fatalf("server not running after 15s:\n%s", s.output.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop asks the server to shut down as the dispatcher would, checks that it
// did so cleanly, and returns its final counters.
func (s *labServer) stop(t *testing.T) Stats {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop within 15s of SIGTERM")
	}
	if s.waitErr != nil {
		t.Fatalf("server exited with %v:\n%s", s.waitErr, s.output.String())
	}
	var stats Stats
	if err := json.Unmarshal(s.stdout.Bytes(), &stats); err != nil {
		t.Fatalf("server stats %q: %v", s.stdout.String(), err)
	}
	return stats
}
