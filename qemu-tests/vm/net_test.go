package vm

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"testing"
)

// ipLink is the part of `ip -d -j link show` the tests read.
type ipLink struct {
	Name     string   `json:"ifname"`
	Flags    []string `json:"flags"`
	Master   string   `json:"master"`
	LinkInfo struct {
		Kind string `json:"info_kind"`
		Data struct {
			ForwardDelay int `json:"forward_delay"`
			STPState     int `json:"stp_state"`
		} `json:"info_data"`
	} `json:"linkinfo"`
	AddrInfo []struct {
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
	} `json:"addr_info"`
}

func TestNetBuildsBridgeAndTapInsideItsNamespace(t *testing.T) {
	requireHost(t)
	n := newTestNet(t)
	tap := testTap(0)
	if err := n.AddTap(tap); err != nil {
		t.Fatal(err)
	}

	links := linksInside(t, n, "link")
	addrs := linksInside(t, n, "addr")
	lo, br, tp := links["lo"], links[n.cfg.Bridge], links[tap]
	if !slices.Contains(lo.Flags, "UP") {
		t.Errorf("lo is not up: %v", lo.Flags)
	}
	if br.LinkInfo.Kind != "bridge" || !slices.Contains(br.Flags, "UP") {
		t.Errorf("%s is not an up bridge: %+v", n.cfg.Bridge, br)
	}
	if d := br.LinkInfo.Data; d.ForwardDelay != 0 || d.STPState != 0 {
		t.Errorf("bridge forward_delay %d stp_state %d, want 0 and 0", d.ForwardDelay, d.STPState)
	}
	if a := addrs[n.cfg.Bridge].AddrInfo; len(a) == 0 || a[0].Local != "10.77.0.1" || a[0].PrefixLen != 24 {
		t.Errorf("bridge addresses %+v, want 10.77.0.1/24", a)
	}
	if tp.LinkInfo.Kind != "tun" || tp.Master != n.cfg.Bridge || !slices.Contains(tp.Flags, "UP") {
		t.Errorf("%s is not an up tap on the bridge: %+v", tap, tp)
	}

	for _, link := range []string{n.cfg.Bridge, tap} {
		if exec.Command("ip", "link", "show", "dev", link).Run() == nil {
			t.Errorf("%s exists on the host; it belongs in the namespace only", link)
		}
	}

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	requireNoLeftovers(t, n.cfg.Name)
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// linksInside lists the namespace's links by name, read from inside it with
// `ip -d -j <object> show` run through Net.Command.
func linksInside(t *testing.T, n *Net, object string) map[string]ipLink {
	t.Helper()
	out, err := n.Command(context.Background(), "ip", "-d", "-j", object, "show").Output()
	if err != nil {
		t.Fatalf("ip %s show inside %s: %v", object, n.cfg.Name, err)
	}
	var list []ipLink
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatal(err)
	}
	links := map[string]ipLink{}
	for _, l := range list {
		links[l.Name] = l
	}
	return links
}
