package agent

import (
	"bytes"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestUptimeHandlerAddsUptimeToEveryRecord(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(uptimeHandler{slog.NewTextHandler(&buf, nil)}).With("agent", "ramfarm")
	log.Info("registered with dispatcher", "node", "n1")
	log.WithGroup("g").Info("second")

	proc, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	procUp, _ := strconv.ParseFloat(strings.Fields(string(proc))[0], 64)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", buf.String())
	}
	re := regexp.MustCompile(`uptime=(\d+\.\d{3})`)
	for _, line := range lines {
		m := re.FindStringSubmatch(line)
		if m == nil || !strings.Contains(line, "agent=ramfarm") {
			t.Fatalf("line lacks uptime or the logger's attributes: %s", line)
		}
		up, _ := strconv.ParseFloat(m[1], 64)
		// Logged just before /proc/uptime was read, on the same clock.
		if up <= 0 || up > procUp+0.01 {
			t.Errorf("uptime %.3f, /proc/uptime says %.2f", up, procUp)
		}
	}
}
