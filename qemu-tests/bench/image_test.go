package bench

import (
	"strings"
	"testing"
	"time"
)

func TestParseAgentUsage(t *testing.T) {
	// What agentUsageScript prints on a node: PID 1 and the agent child,
	// whose command name has a space and a parenthesis to trip a naive
	// parser.
	out := `uptime 12.50
stat 1 1 (init) S 0 1 1 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 5 0 1 1000 900 0
rss 1 VmRSS:	    4000 kB
stat 40 40 (ramfarm) agent) S 1 40 40 0 -1 4194560 100 0 0 0 50 20 4 1 20 0 8 0 30 5000 2000 0
rss 40 VmRSS:	   10000 kB
uptime 42.50
stat 1 1 (init) S 0 1 1 0 -1 4194560 100 0 0 0 7 4 0 0 20 0 5 0 1 1000 900 0
rss 1 VmRSS:	    4100 kB
stat 40 40 (ramfarm) agent) S 1 40 40 0 -1 4194560 100 0 0 0 53 21 9 9 20 0 8 0 30 5000 2000 0
rss 40 VmRSS:	   10100 kB
`
	before, after, err := parseAgentUsage(out)
	if err != nil {
		t.Fatal(err)
	}
	if before.ticks != 80 || after.ticks != 85 {
		t.Errorf("ticks %d then %d, want 80 then 85 (utime+stime, not the children's)", before.ticks, after.ticks)
	}
	if after.rssBytes != 14200*1024 || after.uptime-before.uptime != 30 {
		t.Errorf("after %+v, before %+v", after, before)
	}

	for _, bad := range []string{
		"",
		"uptime 1\n",                          // one sample
		"uptime 2\nuptime 1\n",                // out of order
		"uptime x\n",                          // not a number
		"uptime 1\nstat 1 1 init S\nuptime 2", // no parentheses
		"uptime 1\nsomething else\nuptime 2\n",
	} {
		if _, _, err := parseAgentUsage(bad); err == nil {
			t.Errorf("parseAgentUsage(%q) succeeded", bad)
		}
	}
}

func TestAgentUsageScriptSamplesBothProcesses(t *testing.T) {
	s := agentUsageScript(30 * time.Second)
	for _, want := range []string{"/proc/uptime", "for p in 1 $PPID", "/proc/$p/stat", "VmRSS", "sleep 30"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
}

func TestConsoleUptime(t *testing.T) {
	// PID 1 logs its uptime first (in place of the time), the agent last.
	// PID 1's first line shares the console line the firmware's last
	// escape sequence left.
	serial := "SeaBIOS\n" +
		"Booting from ROM..\x1b[2J" + `uptime=1.190 level=INFO msg="agent started" pid=1 agent_pid=31` + "\n" +
		`time=2026-11-21T10:54:12Z level=INFO msg="network up" agent=ramfarm interface=eth0 uptime=1.352` + "\n" +
		`time=2026-11-21T10:54:12Z level=INFO msg="registered with dispatcher" agent=ramfarm node=node1 uptime=1.497` + "\n"
	for msg, want := range map[string]float64{"agent started": 1.19, "network up": 1.352, "registered with dispatcher": 1.497, "drivers loaded": 0} {
		if got := consoleUptime(serial, msg); got != want {
			t.Errorf("consoleUptime(%q) = %v, want %v", msg, got, want)
		}
	}
	if m := runInitLine.FindStringSubmatch("[    0.984143] Run /init as init process\n"); m == nil || m[1] != "0.984143" {
		t.Errorf("runInitLine match %q", m)
	}
}
