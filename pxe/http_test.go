package pxe

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startHTTP serves s's HTTP handler on a loopback port and returns a client
// that reports redirects instead of following them, and the base URL.
func startHTTP(t *testing.T, s *testServer) (*http.Client, string) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveUntilCleanup(t, func(ctx context.Context) error { return s.http.run(ctx, ln) })
	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	return client, "http://" + ln.Addr().String()
}

func fetch(t *testing.T, client *http.Client, method, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestIPXEScript(t *testing.T) {
	s := newTestServer(t, nil)
	client, base := startHTTP(t, s)
	const want = "#!ipxe\n" +
		"kernel http://10.77.0.1:8080/boot/vmlinuz initrd=initramfs.img " +
		"console=ttyS0 ramfarm.dispatcher=10.77.0.1:7000 ramfarm.token=abc ramfarm.profile=default BOOTIF=01-${netX/mac:hexhyp}\n" +
		"initrd http://10.77.0.1:8080/boot/initramfs.img\n" +
		"boot\n"
	for _, url := range []string{base + "/boot.ipxe", base + "/boot.ipxe?mac=52-54-00-12-34-56"} {
		resp, body := fetch(t, client, http.MethodGet, url, nil)
		if resp.StatusCode != http.StatusOK || body != want {
			t.Errorf("GET %s: %s\n%s\nwant:\n%s", url, resp.Status, body, want)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(want)) {
			t.Errorf("Content-Length %q, want %d", cl, len(want))
		}
	}
	resp, body := fetch(t, client, http.MethodHead, base+"/boot.ipxe", nil)
	if resp.StatusCode != http.StatusOK || body != "" || resp.ContentLength != int64(len(want)) {
		t.Errorf("HEAD: %s, body %q, length %d", resp.Status, body, resp.ContentLength)
	}
}

func TestInitrdArgumentIsTheBaseName(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		os.Mkdir(filepath.Join(c.BootDir, "v2"), 0o755)
		writeFile(t, c.BootDir, "v2/initramfs.img", 100)
		c.Initrd = "v2/initramfs.img"
	})
	want := "initrd=initramfs.img "
	script := s.http.scripts[DefaultProfile].text
	if !strings.Contains(script, want) || !strings.Contains(script, "initrd http://10.77.0.1:8080/boot/v2/initramfs.img\n") {
		t.Errorf("script:\n%s\nwant %q and the full path in the initrd line", script, want)
	}
}

func TestBootFiles(t *testing.T) {
	s := newTestServer(t, nil)
	client, base := startHTTP(t, s)
	kernel, err := os.ReadFile(filepath.Join(s.cfg.BootDir, "vmlinuz"))
	if err != nil {
		t.Fatal(err)
	}

	resp, body := fetch(t, client, http.MethodGet, base+"/boot/vmlinuz", nil)
	if resp.StatusCode != http.StatusOK || body != string(kernel) {
		t.Fatalf("GET /boot/vmlinuz: %s, %d bytes, want the %d-byte kernel", resp.Status, len(body), len(kernel))
	}
	etag := resp.Header.Get("ETag")
	if resp.ContentLength != int64(len(kernel)) || resp.Header.Get("Last-Modified") == "" || etag == "" {
		t.Errorf("headers %v, want Content-Length, Last-Modified and ETag", resp.Header)
	}

	resp, body = fetch(t, client, http.MethodGet, base+"/boot/vmlinuz", map[string]string{"Range": "bytes=1000-1999"})
	if resp.StatusCode != http.StatusPartialContent || body != string(kernel[1000:2000]) {
		t.Errorf("Range request: %s, %d bytes, want 206 with bytes 1000-1999", resp.Status, len(body))
	}
	if cr := resp.Header.Get("Content-Range"); cr != "bytes 1000-1999/5000" {
		t.Errorf("Content-Range %q", cr)
	}

	resp, body = fetch(t, client, http.MethodGet, base+"/boot/vmlinuz", map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("If-None-Match with the current ETag: %s, want 304", resp.Status)
	}

	resp, body = fetch(t, client, http.MethodHead, base+"/boot/initramfs.img", nil)
	if resp.StatusCode != http.StatusOK || body != "" || resp.ContentLength != 3000 {
		t.Errorf("HEAD /boot/initramfs.img: %s, length %d, body %q", resp.Status, resp.ContentLength, body)
	}

	resp, body = fetch(t, client, http.MethodGet, base+"/ipxe/ipxe.efi", nil)
	if resp.StatusCode != http.StatusOK || len(body) != 1000 {
		t.Errorf("GET /ipxe/ipxe.efi: %s, %d bytes, want the 1000-byte binary from TFTPRoot", resp.Status, len(body))
	}
}

func TestHTTPRefusesWithoutRedirecting(t *testing.T) {
	s := newTestServer(t, nil)
	plantEscapes(t, s.cfg.BootDir)
	client, base := startHTTP(t, s)
	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "//boot/vmlinuz", 404},
		{"GET", "/boot//vmlinuz", 404},
		{"GET", "/boot/./vmlinuz", 404},
		{"GET", "/boot/../secret", 404},
		{"GET", "/boot/%2e%2e/secret", 404},
		{"GET", "/boot/..%2fsecret", 404},
		{"GET", "/ipxe/../boot.ipxe", 404},
		{"GET", "/boot/link-out", 404},
		{"GET", "/boot/", 404},
		{"GET", "/boot", 404},
		{"GET", "/", 404},
		{"GET", "/boot/missing", 404},
		{"POST", "/boot.ipxe", 405},
		{"PUT", "/boot/vmlinuz", 405},
	}
	for _, tc := range tests {
		resp, body := fetch(t, client, tc.method, base+tc.path, nil)
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %s, want %d", tc.method, tc.path, resp.Status, tc.status)
		}
		if strings.Contains(body, "secret") {
			t.Errorf("%s %s leaked the file outside the root", tc.method, tc.path)
		}
		if s.logs.find(t, "HTTP request refused", map[string]any{"path": resp.Request.URL.Path, "level": "WARN"}) == nil {
			t.Errorf("%s %s: refusal not logged at WARN; log:\n%s", tc.method, tc.path, s.logs)
		}
	}
	if resp, _ := fetch(t, client, "POST", base+"/boot.ipxe", nil); resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("405 without Allow: GET, HEAD")
	}
}
