package pxe

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// newProfilesServer is a test server whose nodes boot by goodProfiles,
// with the dispatcher's arguments in ExtraCmdline.
func newProfilesServer(t *testing.T) *testServer {
	t.Helper()
	return newTestServer(t, func(c *Config) {
		writeFile(t, c.BootDir, "tools.img", 2_000)
		writeFile(t, c.BootDir, "vmlinuz-rt", 4_000)
		os.Mkdir(filepath.Join(c.BootDir, "v2"), 0o755)
		writeFile(t, c.BootDir, "v2/rt.img", 1_000)
		c.Cmdline = "console=ttyS0"
		c.ExtraCmdline = "ramfarm.dispatcher=10.77.0.1:7000 ramfarm.token=abc"
		c.Profiles = mustParseProfiles(t, goodProfiles)
	})
}

func TestScriptPerProfile(t *testing.T) {
	s := newProfilesServer(t)
	client, base := startHTTP(t, s)
	const (
		toolsScript = "#!ipxe\n" +
			`kernel http://10.77.0.1:8080/boot/vmlinuz initrd=tools.img console=ttyS0 ramfarm.workspace_size=80% msg="a b" ` +
			"ramfarm.dispatcher=10.77.0.1:7000 ramfarm.token=abc ramfarm.profile=tools BOOTIF=01-${netX/mac:hexhyp}\n" +
			"initrd http://10.77.0.1:8080/boot/tools.img\n" +
			"boot\n"
		rtScript = "#!ipxe\n" +
			"kernel http://10.77.0.1:8080/boot/vmlinuz-rt initrd=rt.img " +
			"ramfarm.dispatcher=10.77.0.1:7000 ramfarm.token=abc ramfarm.profile=rt BOOTIF=01-${netX/mac:hexhyp}\n" +
			"initrd http://10.77.0.1:8080/boot/v2/rt.img\n" +
			"boot\n"
		defaultScript = "#!ipxe\n" +
			"kernel http://10.77.0.1:8080/boot/vmlinuz initrd=initramfs.img console=ttyS0 " +
			"ramfarm.dispatcher=10.77.0.1:7000 ramfarm.token=abc ramfarm.profile=default BOOTIF=01-${netX/mac:hexhyp}\n" +
			"initrd http://10.77.0.1:8080/boot/initramfs.img\n" +
			"boot\n"
	)
	tests := []struct {
		query, want, why string
		level            string
	}{
		{"?mac=52-54-00-77-00-01", toolsScript, "group rack2", "INFO"},
		{"?mac=52:54:00:77:00:02", rtScript, "node entry", "INFO"},
		{"?mac=52-54-00-77-00-42", defaultScript, "default", "INFO"},
		{"", defaultScript, "no mac in the URL, so default", "INFO"},
		{"?mac=../../etc/passwd", defaultScript, "unreadable mac in the URL, so default", "WARN"},
	}
	etags := map[string]string{}
	for _, tc := range tests {
		resp, body := fetch(t, client, http.MethodGet, base+"/boot.ipxe"+tc.query, nil)
		if resp.StatusCode != http.StatusOK || body != tc.want {
			t.Errorf("GET /boot.ipxe%s: %s\n%s\nwant:\n%s", tc.query, resp.Status, body, tc.want)
		}
		if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(tc.want)) {
			t.Errorf("GET /boot.ipxe%s: Content-Length %q, want %d", tc.query, cl, len(tc.want))
		}
		etag := resp.Header.Get("ETag")
		if seen, ok := etags[tc.want]; etag == "" || ok && seen != etag {
			t.Errorf("GET /boot.ipxe%s: ETag %q, want one per script (seen %q)", tc.query, etag, seen)
		}
		etags[tc.want] = etag
		if s.logs.find(t, "boot script", map[string]any{"why": tc.why, "level": tc.level}) == nil {
			t.Errorf("GET /boot.ipxe%s: no %s log saying why %q; log:\n%s", tc.query, tc.level, tc.why, s.logs)
		}
	}
	if len(etags) != 3 || etags[toolsScript] == etags[defaultScript] {
		t.Errorf("ETags %v: want a different one for each of the 3 scripts", etags)
	}
	resp, body := fetch(t, client, http.MethodGet, base+"/boot.ipxe?mac=52-54-00-77-00-01",
		map[string]string{"If-None-Match": etags[toolsScript]})
	if resp.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("If-None-Match with the tools script's ETag: %s, want 304", resp.Status)
	}

	// Every profile's files are served, and paths still stay inside BootDir.
	for _, path := range []string{"/boot/tools.img", "/boot/vmlinuz-rt", "/boot/v2/rt.img"} {
		if resp, _ := fetch(t, client, http.MethodHead, base+path, nil); resp.StatusCode != http.StatusOK || resp.ContentLength <= 0 {
			t.Errorf("HEAD %s: %s, length %d", path, resp.Status, resp.ContentLength)
		}
	}
	plantEscapes(t, s.cfg.BootDir)
	for _, path := range []string{"/boot/v2/../../secret", "/boot/v2/%2e%2e/%2e%2e/secret", "/boot/link-out"} {
		if resp, body := fetch(t, client, http.MethodGet, base+path, nil); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "secret") {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
}

// TestIPXEFollowsItsOfferToItsProfile goes the way iPXE does: the DHCP
// offer names a URL, and that URL gives the node its own profile's script.
func TestIPXEFollowsItsOfferToItsProfile(t *testing.T) {
	s := newProfilesServer(t)
	client, base := startHTTP(t, s)
	for mac, profile := range map[string]string{"52:54:00:77:00:02": "rt", "52:54:00:77:00:03": "tools", "52:54:00:00:00:99": "default"} {
		offer := s.discover(t, mac, asIPXE...)
		url := offer.BootFileNameOption()
		want := "http://10.77.0.1:8080/boot.ipxe?mac=" + strings.ReplaceAll(mac, ":", "-")
		if url != want || offer.BootFileName != want {
			t.Errorf("offer to iPXE at %s: boot file %q, option 67 %q; want %q", mac, offer.BootFileName, url, want)
			continue
		}
		// The test server listens on loopback, not on the configured address.
		_, body := fetch(t, client, http.MethodGet, strings.Replace(url, "http://10.77.0.1:8080", base, 1), nil)
		if !strings.Contains(body, " ramfarm.profile="+profile+" ") {
			t.Errorf("%s got the script\n%s\nwant profile %s", mac, body, profile)
		}
	}
}

func TestNewNamesMissingProfileFile(t *testing.T) {
	cfg := testConfig(t)
	cfg.Profiles = mustParseProfiles(t, "[profile tools]\nkernel = vmlinuz\ninitrd = tools.img\n")
	_, err := New(cfg)
	if err == nil || !strings.Contains(err.Error(), `boot profile "tools": initrd "tools.img"`) {
		t.Errorf("New with a profile whose initrd is missing: %v", err)
	}
}

// badPolicy lists a profile that parsing would have refused.
type badPolicy struct{ p Profile }

func (b badPolicy) ProfileFor(net.HardwareAddr) (Profile, string) { return b.p, "only" }
func (b badPolicy) Profiles() []Profile                           { return []Profile{b.p} }

func TestValidateChecksEveryProfile(t *testing.T) {
	tests := []struct {
		profile Profile
		want    string
	}{
		{Profile{Name: "a b", Kernel: "k", Initrd: "i"}, `boot profile "a b": profile name "a b" is not`},
		{Profile{Name: "x", Kernel: "/abs", Initrd: "i"}, `boot profile "x": kernel "/abs" is not a plain relative file name`},
		{Profile{Name: "x", Kernel: "k", Initrd: "i", Cmdline: "a\nb"}, `boot profile "x": cmdline contains`},
	}
	for _, tc := range tests {
		cfg := testConfig(t)
		cfg.Profiles = badPolicy{tc.profile}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate with profile %+v: %v, want %q", tc.profile, err, tc.want)
		}
	}
	cfg := testConfig(t)
	cfg.ExtraCmdline = "ramfarm.token=x\n"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "ExtraCmdline") {
		t.Errorf("Validate with a line break in ExtraCmdline: %v", err)
	}
}
