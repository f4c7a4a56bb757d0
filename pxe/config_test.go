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
		{"no addresses", func(c *Config) { c.Ranges = nil }, "Ranges and Reservations are both empty"},
		{"range start missing", func(c *Config) { c.Ranges[0].Start = netip.Addr{} }, "start is not a host address"},
		{"range end is broadcast", func(c *Config) { c.Ranges[0].End = ip("10.77.0.255") }, "end is not a host address"},
		{"range backwards", func(c *Config) { c.Ranges[0] = Range{ip("10.77.0.199"), ip("10.77.0.100")} }, "start is after end"},
		{"range includes server", func(c *Config) { c.ServerIP = ip("10.77.0.150") }, "includes ServerIP"},
		{"range includes router", func(c *Config) { c.Router = ip("10.77.0.150") }, "includes Router"},
		{"ranges overlap", func(c *Config) { c.Ranges = append(c.Ranges, Range{ip("10.77.0.199"), ip("10.77.0.210")}) },
			"Ranges[1] 10.77.0.199-10.77.0.210 overlaps [0]"},
		{"relay subnet overlaps Subnet", func(c *Config) { c.RelaySubnets = []RelaySubnet{relaySubnet("10.77.0.0/16")} },
			"RelaySubnets[0]: Subnet 10.77.0.0/16 overlaps Subnet 10.77.0.0/24"},
		{"relay subnets overlap", func(c *Config) {
			c.RelaySubnets = []RelaySubnet{relaySubnet("10.88.0.0/24"), relaySubnet("10.88.0.128/25")}
		}, "RelaySubnets[1]: Subnet 10.88.0.128/25 overlaps RelaySubnets[0]"},
		{"IPv6 relay subnet", func(c *Config) { c.RelaySubnets = []RelaySubnet{{Subnet: netip.MustParsePrefix("fd00::/64")}} },
			"RelaySubnets[0]: Subnet fd00::/64 is not an IPv4 prefix"},
		{"relay range outside its subnet", func(c *Config) {
			rs := relaySubnet("10.88.0.0/24")
			rs.Ranges = []Range{{ip("10.89.0.10"), ip("10.89.0.20")}}
			c.RelaySubnets = []RelaySubnet{rs}
		}, "RelaySubnets[0].Ranges[0] 10.89.0.10-10.89.0.20: start is not a host address in 10.88.0.0/24"},
		{"relay router in its range", func(c *Config) {
			rs := relaySubnet("10.88.0.0/24")
			rs.Router = ip("10.88.0.10")
			c.RelaySubnets = []RelaySubnet{rs}
		}, "includes Router 10.88.0.10"},
		{"reservation outside every subnet", func(c *Config) { c.Reservations = []Reservation{reservation("01", "10.99.0.5")} },
			"IP is not a host address in Subnet or a RelaySubnet"},
		{"reservation of ServerIP", func(c *Config) { c.Reservations = []Reservation{reservation("01", "10.77.0.1")} },
			"IP is ServerIP"},
		{"reservation of the router", func(c *Config) { c.Reservations = []Reservation{reservation("01", "10.77.0.254")} },
			"IP is the subnet's Router"},
		{"reserved MAC twice", func(c *Config) {
			c.Reservations = []Reservation{reservation("01", "10.77.0.5"), reservation("01", "10.77.0.6")}
		}, "same MAC as Reservations[0]"},
		{"reserved IP twice", func(c *Config) {
			c.Reservations = []Reservation{reservation("01", "10.77.0.5"), reservation("02", "10.77.0.5")}
		}, "same IP as Reservations[0]"},
		{"reservation for a multicast MAC", func(c *Config) {
			c.Reservations = []Reservation{{MAC: mustMAC("01:00:5e:00:00:01"), IP: ip("10.77.0.5")}}
		}, "MAC is not a 6-byte unicast Ethernet address"},
		{"reserved hostname with a newline", func(c *Config) {
			r := reservation("01", "10.77.0.5")
			r.Hostname = "node\n1"
			c.Reservations = []Reservation{r}
		}, "Hostname"},
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

func relaySubnet(prefix string) RelaySubnet {
	p := netip.MustParsePrefix(prefix)
	first := p.Addr().Next().Next().Next().Next().Next().Next().Next().Next().Next().Next()
	return RelaySubnet{Subnet: p, Ranges: []Range{{first, first.Next()}}}
}

// reservation reserves ip for MAC 52:54:00:00:00:<last>.
func reservation(last, ip string) Reservation {
	return Reservation{MAC: mustMAC("52:54:00:00:00:" + last), IP: netip.MustParseAddr(ip)}
}

func TestValidateAcceptsAFullAddressPlan(t *testing.T) {
	cfg := testConfig(t)
	relayed := netip.MustParsePrefix("10.88.0.1/24")
	cfg.Ranges = append(cfg.Ranges, Range{netip.MustParseAddr("10.77.0.20"), netip.MustParseAddr("10.77.0.29")})
	cfg.RelaySubnets = []RelaySubnet{relaySubnet(relayed.String())}
	cfg.Reservations = []Reservation{
		reservation("01", "10.77.0.150"), // inside a range
		reservation("02", "10.77.0.5"),   // outside every range
		reservation("03", "10.88.0.200"), // in the relay subnet
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := cfg.RelaySubnets[0].Subnet; got != relayed.Masked() {
		t.Errorf("relay subnet %v, want it masked to %v", got, relayed.Masked())
	}
}

func TestNewReportsMissingDirectories(t *testing.T) {
	cfg := testConfig(t)
	cfg.BootDir = t.TempDir() + "/missing"
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "BootDir") {
		t.Errorf("New with a missing BootDir: %v", err)
	}
}
