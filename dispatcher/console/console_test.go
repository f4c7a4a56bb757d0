package console

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/initramfs"
)

func TestConfigFileFillsFlagsNotGiven(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	iface := fs.String("interface", "", "")
	hb := fs.Duration("heartbeat", 5*time.Second, "")
	port := fs.Int("http-port", 8080, "")
	fs.String("config", "", "")
	if err := fs.Parse([]string{"--interface", "eth9"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ramfarm.conf")
	os.WriteFile(path, []byte("# boot network\ninterface = eth1\nheartbeat = 2s  # faster\n\nhttp-port = \"8081\"\n"), 0o644)
	if err := applyConfigFile(fs, path); err != nil {
		t.Fatal(err)
	}
	if *iface != "eth9" || *hb != 2*time.Second || *port != 8081 {
		t.Fatalf("interface=%s heartbeat=%s http-port=%d; want eth9 (command line wins), 2s, 8081", *iface, *hb, *port)
	}
}

func TestConfigFileErrorsNameTheLine(t *testing.T) {
	for content, want := range map[string]string{
		"interface eth1\n":           ":1: want name = value",
		"\nnosuchthing = 1\n":        ":2: unknown setting",
		"heartbeat = often\n":        ":1: heartbeat",
		"config = /etc/other.conf\n": ":1: unknown setting",
	} {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.String("interface", "", "")
		fs.Duration("heartbeat", 0, "")
		fs.String("config", "", "")
		path := filepath.Join(t.TempDir(), "bad.conf")
		os.WriteFile(path, []byte(content), 0o644)
		err := applyConfigFile(fs, path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %q: error %v, want one containing %q", content, err, want)
		}
	}
}

func TestDHCPRanges(t *testing.T) {
	subnet := netip.MustParsePrefix("10.77.0.1/24")
	r, err := parseRanges("", subnet)
	if err != nil || len(r) != 1 || r[0].String() != "10.77.0.128-10.77.0.254" {
		t.Fatalf("default ranges %v %v; want the upper half 10.77.0.128-10.77.0.254", r, err)
	}
	r, err = parseRanges("10.77.0.100 - 10.77.0.150,10.77.0.200-10.77.0.210", subnet)
	if err != nil || len(r) != 2 || r[0].String() != "10.77.0.100-10.77.0.150" || r[1].String() != "10.77.0.200-10.77.0.210" {
		t.Fatalf("explicit ranges %v %v", r, err)
	}
	for _, bad := range []string{"10.77.0.100", "a-b", "10.77.0.1-", "10.77.0.1-10.77.0.2,"} {
		if _, err := parseRanges(bad, subnet); err == nil {
			t.Errorf("range %q accepted", bad)
		}
	}
	if _, err := parseRanges("", netip.MustParsePrefix("10.0.0.1/30")); err == nil {
		t.Error("a /30 has no room for a default range, yet one was picked")
	}
}

func TestReserveFlag(t *testing.T) {
	var r reservationFlag
	if err := r.Set("52:54:00:12:34:56=10.77.0.50,node-a"); err != nil {
		t.Fatal(err)
	}
	if err := r.Set("52:54:00:12:34:57=10.77.0.51"); err != nil {
		t.Fatal(err)
	}
	if len(r) != 2 || r[0].IP.String() != "10.77.0.50" || r[0].Hostname != "node-a" || r[1].Hostname != "" || r[1].MAC.String() != "52:54:00:12:34:57" {
		t.Fatalf("reservations %+v", r)
	}
	for _, bad := range []string{"52:54:00:12:34:56", "nope=10.77.0.1", "52:54:00:12:34:56=ten"} {
		if err := r.Set(bad); err == nil {
			t.Errorf("--reserve %q accepted", bad)
		}
	}
}

func TestNodeTable(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	WriteNodeTable(&buf, []api.Node{{
		Name: "node1", MAC: "52:54:00:77:00:01", IP: "10.77.0.100", State: api.NodeReady, Profile: "tools",
		Cores: 2, Load1: 0.25, MemAvailableBytes: 400 << 20, LastSeen: now.Add(-3 * time.Second), Running: []uint64{4, 9},
	}, {
		Name: "node2", MAC: "52:54:00:77:00:02", IP: "10.77.0.101", State: api.NodeReady,
		Cores: 1, LastSeen: now,
	}}, now)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("table:\n%s", buf.String())
	}
	for _, want := range []string{"node1", "52:54:00:77:00:01", "10.77.0.100", "ready", "tools", "0.25", "400.0MiB", "3s ago", "4,9"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
	// The PROFILE column: the profile the node reported, "-" if none.
	col := strings.Index(lines[0], "PROFILE")
	for i, want := range []string{"tools ", "- "} {
		row := lines[i+1]
		if col < 0 || len(row) < col+len(want) || row[col:col+len(want)] != want {
			t.Errorf("PROFILE column (at %d) of %q is not %q:\n%s", col, row, want, buf.String())
		}
	}
}

func TestTaskTable(t *testing.T) {
	var buf bytes.Buffer
	WriteTaskTable(&buf, []api.Task{
		{ID: 1, Command: "echo 42", State: api.TaskDone, Node: "node1", Result: &api.Result{Stdout: "42\nmore\n", Duration: 12 * time.Millisecond}},
		{ID: 2, Command: "sleep 9", State: api.TaskFailed, Node: "node2", Result: &api.Result{ExitCode: -1, Error: "timed out after 1s"}},
		{ID: 3, Command: "true", State: api.TaskQueued},
	}, true)
	out := buf.String()
	for _, want := range []string{"echo 42", "42", "12ms", "error: timed out after 1s", "queued"} {
		if !strings.Contains(out, want) {
			t.Errorf("task table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "more") {
		t.Errorf("only the first output line belongs in the table:\n%s", out)
	}
}

func TestExitCodes(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no.sock")
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"frobnicate"}, 2},
		{[]string{"nodes", "--help"}, 0}, // help, and no attempt to reach a dispatcher
		{[]string{"reboot", "--api-socket", missing}, 2},
		{[]string{"nodes", "--bogus"}, 2},
		{[]string{"nodes", "--api-socket", missing}, 1},
	} {
		if code := Main(tc.args); code != tc.want {
			t.Errorf("ramfarm %v: exit %d, want %d", tc.args, code, tc.want)
		}
	}
}

// The dispatcher's default initramfs is the one `make image` builds.
func TestInitrdDefaultIsWhatMakeImageBuilds(t *testing.T) {
	// The flag package prints help on stderr.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	serve([]string{"--help"}, io.Discard)
	os.Stderr = stderr
	w.Close()
	help, _ := io.ReadAll(r)
	if want := fmt.Sprintf("(default %q)", initramfs.InitrdName); !strings.Contains(string(help), want) {
		t.Fatalf("serve --help does not say %s:\n%s", want, help)
	}
}
