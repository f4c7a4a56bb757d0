package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
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
	dnsmasq, err = measureDHCP(ctx, cfg, "rfbd", startDnsmasqDHCP)
	if err != nil {
		return ramfarm, dnsmasq, fmt.Errorf("dnsmasq: %w", err)
	}
	return ramfarm, dnsmasq, nil
}

type serverStarter func(ctx context.Context, l *Lab, cfg DHCPConfig, dir string) (*exec.Cmd, error)

func measureDHCP(ctx context.Context, cfg DHCPConfig, prefix string, start serverStarter) (PerfResult, error) {
	l, stop, err := startLab(ctx, prefix, dhcpServerAddr, dhcpClientAddr, cfg.WorkDir, func(l *Lab, dir string) (*exec.Cmd, error) {
		return start(ctx, l, cfg, dir)
	})
	if err != nil {
		return PerfResult{}, err
	}
	defer stop()

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

// dhcpSetup is the server side of the DHCP benchmark in lab l.
func dhcpSetup(l *Lab, dir string) serverSetup {
	return serverSetup{NS: l.Server, Iface: l.ServerIf, First: dhcpFirst, Last: dhcpLast, Mask: "255.255.0.0", Dir: dir}
}

func startDnsmasqDHCP(ctx context.Context, l *Lab, cfg DHCPConfig, dir string) (*exec.Cmd, error) {
	return startDnsmasq(ctx, dhcpSetup(l, dir))
}

func startRamfarmDHCP(ctx context.Context, l *Lab, cfg DHCPConfig, dir string) (*exec.Cmd, error) {
	cmd, _, err := startRamfarm(ctx, cfg.Ramfarm, cfg.ImagesDir, dhcpSetup(l, dir))
	return cmd, err
}
