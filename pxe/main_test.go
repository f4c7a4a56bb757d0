package pxe

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// labServerEnv, when set, turns the test binary into a PXE server instead
// of running tests: TestServerOverVeth starts it so inside a network
// namespace (a whole process has to live there, since Go moves goroutines
// between threads and a namespace belongs to a thread). The value is the
// JSON of labDirs.
const labServerEnv = "RFPXE_LAB_SERVER"

func TestMain(m *testing.M) {
	if dirs := os.Getenv(labServerEnv); dirs != "" {
		os.Exit(runLabServer(dirs))
	}
	os.Exit(m.Run())
}

type labDirs struct {
	TFTPRoot, BootDir string
	Proxy             bool // serve in DHCPProxy mode: no ranges, no relay subnet
}

// labConfig is the server side of the veth lab: 10.199.0.1 on rfpxe0, and
// 10.200.0.0/24 through a relay agent; or, with dirs.Proxy, a ProxyDHCP
// server on rfpxe0.
func labConfig(dirs labDirs) Config {
	cfg := Config{
		Interface: "rfpxe0",
		ServerIP:  netip.MustParseAddr("10.199.0.1"),
		Subnet:    netip.MustParsePrefix("10.199.0.0/24"),
		Ranges:    []Range{{netip.MustParseAddr("10.199.0.100"), netip.MustParseAddr("10.199.0.110")}},
		RelaySubnets: []RelaySubnet{{ // behind the relay of TestRelayOverVeth
			Subnet: netip.MustParsePrefix("10.200.0.0/24"),
			Router: netip.MustParseAddr("10.200.0.1"),
			Ranges: []Range{{netip.MustParseAddr("10.200.0.100"), netip.MustParseAddr("10.200.0.110")}},
		}},
		TFTPAddr: "10.199.0.1:69",
		TFTPRoot: dirs.TFTPRoot,
		HTTPAddr: "10.199.0.1:8080",
		BootDir:  dirs.BootDir,
		Kernel:   "vmlinuz",
		Initrd:   "initramfs.img",
		Cmdline:  "console=ttyS0",

		AnswerRouterSolicitations: true,
	}
	if dirs.Proxy {
		cfg.DHCPMode = DHCPProxy
		cfg.Ranges, cfg.RelaySubnets = nil, nil
	}
	return cfg
}

// runLabServer runs a Server until SIGTERM, logging JSON to stderr, and then
// prints its Stats as JSON to stdout.
func runLabServer(dirsJSON string) int {
	var dirs labDirs
	if err := json.Unmarshal([]byte(dirsJSON), &dirs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg := labConfig(dirs)
	cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := s.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "Run:", err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(s.Stats()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
