package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
)

// DHCPConfig is one side-by-side DHCP load test.
type DHCPConfig struct {
	Clients   int           // simulated clients (perfdhcp -R)
	Rate      int           // target 4-way exchanges per second (perfdhcp -r)
	Period    time.Duration // how long perfdhcp sends
	Ramfarm   string        // the ramfarm binary
	ImagesDir string        // boot directory ramfarm serve insists on
	WorkDir   string        // state and lease files
}

// PerfResult is what perfdhcp measured against one server.
type PerfResult struct {
	Rate         float64 // completed 4-way exchanges per second
	Sent, Acked  int     // DISCOVERs sent, ACKs received
	DropsPercent float64 // share of DISCOVERs that never got their ACK
}

// The lab's addresses: a /16 so that 30,000 clients fit in the range.
const (
	dhcpServerAddr = "10.80.0.1/16"
	dhcpClientAddr = "10.80.0.2/16"
	dhcpFirst      = "10.80.1.0"
	dhcpLast       = "10.80.200.255"
)

// DHCP runs perfdhcp against ramfarm, then against dnsmasq, each in a fresh
// lab with the same clients and target rate, leases on disk for both.
// perfdhcp behaves as a relay agent (giaddr set), which both servers serve
// since the relay's address is inside their subnet.
func DHCP(ctx context.Context, cfg DHCPConfig) (ramfarm, dnsmasq PerfResult, err error) {
	if err := requireRoot(); err != nil {
		return ramfarm, dnsmasq, err
	}
	for _, tool := range []string{"perfdhcp", "dnsmasq"} {
		if _, err := exec.LookPath(tool); err != nil {
			return ramfarm, dnsmasq, fmt.Errorf("%s not found: run `make bench-deps`", tool)
		}
	}
	ramfarm, err = measureDHCP(ctx, cfg, "rfbr", startRamfarmDHCP)
	if err != nil {
		return ramfarm, dnsmasq, fmt.Errorf("ramfarm: %w", err)
	}
	dnsmasq, err = measureDHCP(ctx, cfg, "rfbd", startDnsmasq)
	if err != nil {
		return ramfarm, dnsmasq, fmt.Errorf("dnsmasq: %w", err)
	}
	return ramfarm, dnsmasq, nil
}

type serverStarter func(ctx context.Context, l *Lab, cfg DHCPConfig, dir string) (*exec.Cmd, error)

func measureDHCP(ctx context.Context, cfg DHCPConfig, prefix string, start serverStarter) (PerfResult, error) {
	l, err := NewLab(fmt.Sprintf("%s%d", prefix, os.Getpid()%100000), dhcpServerAddr, dhcpClientAddr)
	if err != nil {
		return PerfResult{}, err
	}
	defer l.Close()
	dir, err := os.MkdirTemp(cfg.WorkDir, prefix+"-")
	if err != nil {
		return PerfResult{}, err
	}
	srv, err := start(ctx, l, cfg, dir)
	if err != nil {
		return PerfResult{}, err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()

	perf := l.In(ctx, l.Client, "perfdhcp", "-4", "-l", l.ClientIP(),
		"-R", strconv.Itoa(cfg.Clients), "-r", strconv.Itoa(cfg.Rate),
		"-p", strconv.Itoa(int(cfg.Period.Seconds())), l.ServerIP())
	out, err := perf.CombinedOutput()
	// Exit status 3 means "some exchanges did not complete": that is what
	// drops are, and they are reported, not fatal.
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 3) {
		return PerfResult{}, fmt.Errorf("perfdhcp: %v\n%s", err, out)
	}
	return parsePerfDHCP(strings.NewReader(string(out)))
}

// parsePerfDHCP reads perfdhcp's final report.
func parsePerfDHCP(r io.Reader) (PerfResult, error) {
	var res PerfResult
	var section string
	var haveRate bool
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		switch {
		case strings.HasPrefix(line, "Rate:"):
			f := strings.Fields(line)
			if len(f) < 2 {
				return res, fmt.Errorf("perfdhcp: odd rate line %q", line)
			}
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return res, fmt.Errorf("perfdhcp: rate %q: %v", f[1], err)
			}
			res.Rate, haveRate = v, true
		case strings.HasPrefix(line, "***Statistics for:"):
			section = line
		case strings.HasPrefix(line, "sent packets:") && strings.Contains(section, "DISCOVER-OFFER"):
			res.Sent, _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "sent packets:")))
		case strings.HasPrefix(line, "received packets:") && strings.Contains(section, "REQUEST-ACK"):
			res.Acked, _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "received packets:")))
		}
	}
	if !haveRate {
		return res, errors.New("perfdhcp printed no rate: did it run?")
	}
	if res.Sent > 0 {
		res.DropsPercent = 100 * float64(res.Sent-res.Acked) / float64(res.Sent)
	}
	return res, s.Err()
}

func startDnsmasq(ctx context.Context, l *Lab, cfg DHCPConfig, dir string) (*exec.Cmd, error) {
	cmd := l.In(ctx, l.Server, "dnsmasq", "--no-daemon", "--port=0", "--conf-file=/dev/null",
		"--interface="+l.ServerIf, "--bind-interfaces",
		fmt.Sprintf("--dhcp-range=%s,%s,255.255.0.0,1h", dhcpFirst, dhcpLast),
		"--dhcp-lease-max=100000", "--dhcp-authoritative", "--no-ping", "--quiet-dhcp",
		"--dhcp-leasefile="+filepath.Join(dir, "dnsmasq.leases"), "--log-facility=-")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, waitUDP(ctx, l, 67)
}

func startRamfarmDHCP(ctx context.Context, l *Lab, cfg DHCPConfig, dir string) (*exec.Cmd, error) {
	socket := filepath.Join(dir, "api.sock")
	cmd := l.In(ctx, l.Server, cfg.Ramfarm, "serve",
		"--interface", l.ServerIf, "--dhcp-range", dhcpFirst+"-"+dhcpLast,
		"--boot-dir", cfg.ImagesDir, "--state-dir", dir, "--api-socket", socket,
		"--metrics-addr", "", "--log-level", "error")
	log, err := os.Create(filepath.Join(dir, "ramfarm.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitAPI(ctx, api.NewClient(socket)); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		b, _ := os.ReadFile(log.Name())
		return nil, fmt.Errorf("ramfarm serve did not start: %w\n%s", err, b)
	}
	return cmd, nil
}

// waitUDP waits until something listens on a UDP port in the server side.
func waitUDP(ctx context.Context, l *Lab, port int) error {
	want := fmt.Sprintf(":%d ", port)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, _ := exec.CommandContext(ctx, "ip", "netns", "exec", l.Server, "ss", "-uln").Output()
		if strings.Contains(string(out), want) {
			return nil
		}
	}
	return fmt.Errorf("nothing listens on UDP %d after 10 s", port)
}
