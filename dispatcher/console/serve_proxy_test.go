package console

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeProxyRefusesAddressFlags: in proxy mode the site's DHCP server
// hands out the addresses, so flags about them are refused, from the
// command line and from the config file alike, before anything starts.
func TestServeProxyRefusesAddressFlags(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "ramfarm.conf")
	if err := os.WriteFile(conf, []byte("dhcp-mode = proxy\nrouter = 10.77.0.254\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"--interface", "rfx0", "--address", "10.77.0.1/24", "--state-dir", t.TempDir()}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dhcp-mode", "proxy", "--dhcp-range", "10.77.0.100-10.77.0.110", "--reserve", "52:54:00:00:00:01=10.77.0.7"},
			"--dhcp-range, --reserve given with --dhcp-mode proxy"},
		{[]string{"--dhcp-mode", "proxy", "--lease-time", "2h"}, "--lease-time given with --dhcp-mode proxy"},
		{[]string{"--config", conf}, "--router given with --dhcp-mode proxy"},
	} {
		err := serve(append(base, tc.args...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

func TestServeDHCPModeValues(t *testing.T) {
	if err := serve([]string{"--dhcp-mode", "relay"}, io.Discard); err != errUsage {
		t.Errorf("--dhcp-mode relay: %v, want a usage error", err)
	}
	if code := Main([]string{"serve", "--help"}); code != 0 {
		t.Errorf("serve --help: exit %d", code)
	}
}
