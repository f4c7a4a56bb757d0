package bench

import (
	"os"
	"strings"
	"testing"
)

func TestParsePerfDHCP(t *testing.T) {
	f, err := os.Open("testdata/perfdhcp-dnsmasq.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := parsePerfDHCP(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rate != 285.784 || r.Sent != 19999 || r.Acked != 5716 {
		t.Fatalf("parsed %+v; want rate 285.784, 19999 sent, 5716 acked", r)
	}
	if r.DropsPercent < 71.4 || r.DropsPercent > 71.5 {
		t.Fatalf("drops %.2f%%, want 71.4%% (5716 of 19999 completed)", r.DropsPercent)
	}
}

func TestParsePerfDHCPWithoutReport(t *testing.T) {
	if _, err := parsePerfDHCP(strings.NewReader("ERROR: no route\n")); err == nil {
		t.Fatal("an output without a rate was accepted")
	}
}
