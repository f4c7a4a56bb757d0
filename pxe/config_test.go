package pxe

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestValidateFillsDefaults(t *testing.T) {
	cfg := testConfig(t)
	cfg.TFTPAddr, cfg.HTTPAddr, cfg.LeaseTime, cfg.Subnet = "", "", 0, netip.MustParsePrefix("10.77.0.1/24")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.TFTPAddr != "10.77.0.1:69" || cfg.HTTPAddr != "10.77.0.1:80" {
		t.Errorf("TFTPAddr %q, HTTPAddr %q; want 10.77.0.1:69 and 10.77.0.1:80", cfg.TFTPAddr, cfg.HTTPAddr)
	}
	if cfg.LeaseTime != time.Hour || cfg.Logger == nil || cfg.Subnet.String() != "10.77.0.0/24" {
		t.Errorf("LeaseTime %v, Logger %v, Subnet %v", cfg.LeaseTime, cfg.Logger, cfg.Subnet)
	}
	if got := cfg.Hostname(net.HardwareAddr{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}); got != "node-aabbccddeeff" {
		t.Errorf("default hostname %q", got)
	}
}

func TestValidateRejects(t *testing.T) {
	ip := netip.MustParseAddr
	tests := []struct {
		name string
		edit func(*Config)
		want string // in the error
	}{
		{"no interface", func(c *Config) { c.Interface = "" }, "Interface is empty"},
		{"IPv6 subnet", func(c *Config) { c.Subnet = netip.MustParsePrefix("fd00::/64") }, "Subnet"},
		{"/31 subnet", func(c *Config) { c.Subnet = netip.MustParsePrefix("10.77.0.0/31") }, "Subnet"},
		{"server outside subnet", func(c *Config) { c.ServerIP = ip("10.78.0.1") }, "ServerIP 10.78.0.1"},
		{"server is the network address", func(c *Config) { c.ServerIP = ip("10.77.0.0") }, "ServerIP"},
		{"router outside subnet", func(c *Config) { c.Router = ip("192.168.0.1") }, "Router 192.168.0.1"},
		{"IPv6 DNS", func(c *Config) { c.DNS = []netip.Addr{ip("::1")} }, "DNS server ::1"},
		{"range start missing", func(c *Config) { c.RangeStart = netip.Addr{} }, "RangeStart invalid IP"},
		{"range end is broadcast", func(c *Config) { c.RangeEnd = ip("10.77.0.255") }, "RangeEnd 10.77.0.255"},
		{"range backwards", func(c *Config) { c.RangeStart, c.RangeEnd = c.RangeEnd, c.RangeStart }, "is after"},
		{"range includes server", func(c *Config) { c.ServerIP = ip("10.77.0.150") }, "includes ServerIP"},
		{"range includes router", func(c *Config) { c.Router = ip("10.77.0.150") }, "includes Router"},
		{"negative lease", func(c *Config) { c.LeaseTime = -time.Hour }, "LeaseTime"},
		{"sub-second lease", func(c *Config) { c.LeaseTime = time.Millisecond }, "LeaseTime"},
		{"bad TFTP address", func(c *Config) { c.TFTPAddr = "tftp" }, "TFTPAddr"},
		{"HTTP port 0", func(c *Config) { c.HTTPAddr = "10.77.0.1:0" }, "HTTPAddr"},
		{"HTTP address without port", func(c *Config) { c.HTTPAddr = "10.77.0.1" }, "HTTPAddr"},
		{"no TFTP root", func(c *Config) { c.TFTPRoot = "" }, "TFTPRoot is empty"},
		{"no boot dir", func(c *Config) { c.BootDir = "" }, "BootDir is empty"},
		{"no kernel", func(c *Config) { c.Kernel = "" }, "Kernel"},
		{"kernel outside boot dir", func(c *Config) { c.Kernel = "../vmlinuz" }, "Kernel"},
		{"absolute initrd", func(c *Config) { c.Initrd = "/boot/initrd" }, "Initrd"},
		{"initrd with a space", func(c *Config) { c.Initrd = "my initrd" }, "Initrd"},
		{"cmdline with a newline", func(c *Config) { c.Cmdline = "quiet\nboot" }, "Cmdline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			tc.edit(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestNewReportsMissingDirectories(t *testing.T) {
	cfg := testConfig(t)
	cfg.BootDir = t.TempDir() + "/missing"
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "BootDir") {
		t.Errorf("New with a missing BootDir: %v", err)
	}
}
