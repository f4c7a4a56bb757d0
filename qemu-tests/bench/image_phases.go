package bench

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// BootPhases are the guest's uptimes, in seconds, at the steps from kernel
// start to a registered agent: where boot-to-ready goes. A step not found
// is 0.
type BootPhases struct {
	RunInit      float64 // the kernel starts /init (kernel log)
	AgentStarted float64 // PID 1 has started the agent child
	NetworkUp    float64 // the agent has its DHCP lease and address
	Registered   float64 // the dispatcher has welcomed the agent
}

func (p BootPhases) String() string {
	return fmt.Sprintf("run-init=%.2f agent-started=%.2f network-up=%.2f registered=%.2f",
		p.RunInit, p.AgentStarted, p.NetworkUp, p.Registered)
}

// consoleUptime finds the line of the serial console that logs msg and
// returns the uptime it carries (PID 1 and the agent both log uptime=).
func consoleUptime(serial, msg string) float64 {
	for _, line := range strings.Split(serial, "\n") {
		if !strings.Contains(line, `msg="`+msg+`"`) {
			continue
		}
		if m := uptimeAttr.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			return v
		}
	}
	return 0
}

var uptimeAttr = regexp.MustCompile(`uptime=(\d+\.\d+)`)

var runInitLine = regexp.MustCompile(`\[\s*(\d+\.\d+)\] Run /init as init process`)

// kernelRunInit returns the kernel log's time stamp of starting /init.
// With "quiet" the line is not on the console, so the node is asked.
func kernelRunInit(ctx context.Context, b *ImageBoot) (float64, error) {
	task, err := b.RunTask(ctx, "dmesg", time.Minute)
	if err != nil {
		return 0, err
	}
	if task.Result == nil || task.Result.ExitCode != 0 {
		return 0, fmt.Errorf("dmesg on the node failed: %+v", task.Result)
	}
	m := runInitLine.FindStringSubmatch(task.Result.Stdout)
	if m == nil {
		return 0, fmt.Errorf("the kernel log has no %q line", "Run /init as init process")
	}
	return strconv.ParseFloat(m[1], 64)
}

// BootPhases reads the steps of the node's boot off its console and its
// kernel log. Call it once the node is registered.
func (b *ImageBoot) BootPhases(ctx context.Context) (BootPhases, error) {
	serial := b.Serial()
	p := BootPhases{
		AgentStarted: consoleUptime(serial, "agent started"),
		NetworkUp:    consoleUptime(serial, "network up"),
		Registered:   consoleUptime(serial, "registered with dispatcher"),
	}
	var err error
	p.RunInit, err = kernelRunInit(ctx, b)
	return p, err
}
