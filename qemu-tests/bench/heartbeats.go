package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/protocol"
)

// HeartbeatConfig is a heartbeat load run: many idle nodes that only report.
type HeartbeatConfig struct {
	Ramfarm  string
	WorkDir  string
	Nodes    int
	Interval time.Duration
	Measure  time.Duration // how long CPU is measured once every node is in
}

// HeartbeatResult is the dispatcher's cost of keeping the nodes.
type HeartbeatResult struct {
	CPUPercent float64 // of one core
	RSSBytes   uint64
	Registered int // nodes in the dispatcher's table at the end
	Retried    int // registrations that failed and were tried again
}

// registerAttempts is how often a simulated node tries to register before
// it counts as failed. Real agents retry for ever, with backoff; when ten
// thousand of them connect within a second, the dispatcher's TLS handshakes
// (2 cores) queue past its 10 s hello deadline for a few, which then come
// back, as here.
const registerAttempts = 5

// Heartbeats connects cfg.Nodes simulated nodes to a fresh dispatcher, lets
// them heartbeat, and measures the dispatcher process's CPU time and RSS.
func Heartbeats(ctx context.Context, cfg HeartbeatConfig) (HeartbeatResult, error) {
	d, err := startLoopbackDispatcher(ctx, cfg.Ramfarm, cfg.WorkDir, "--heartbeat", cfg.Interval.String())
	if err != nil {
		return HeartbeatResult{}, err
	}
	defer d.stop()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var joined, failed, dropped, retried atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < cfg.Nodes; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			backoff := 500 * time.Millisecond
			for attempt := 1; ; attempt++ {
				registered := false
				err := heartbeatNode(ctx, d, i, cfg.Interval, func() { registered = true; joined.Add(1) })
				switch {
				case err == nil || ctx.Err() != nil:
					return
				case registered:
					dropped.Add(1)
					return
				case attempt == registerAttempts:
					failed.Add(1)
					return
				}
				retried.Add(1)
				select { // with jitter, as the agent does
				case <-time.After(backoff/2 + rand.N(backoff)):
				case <-ctx.Done():
					return
				}
				backoff *= 2
			}
		}(i)
		// 2,000 nodes a second: racks powering on, not a SYN flood. Each
		// registration is a TLS handshake on both sides of this 2-core
		// machine; at 10,000 a second the load generator itself fell
		// behind and a few of its nodes missed three heartbeats.
		if i%200 == 199 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	for deadline := time.Now().Add(2 * time.Minute); joined.Load()+failed.Load() < int64(cfg.Nodes); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return HeartbeatResult{}, fmt.Errorf("only %d of %d nodes registered in 2 minutes", joined.Load(), cfg.Nodes)
		}
	}
	if f, dr := failed.Load(), dropped.Load(); f+dr > 0 {
		return HeartbeatResult{}, fmt.Errorf("%d simulated nodes failed to register in %d attempts, %d were dropped after registering", f, registerAttempts, dr)
	}

	time.Sleep(2 * cfg.Interval) // settle after the registration storm
	cpu0, err := cpuTime(d.pid())
	if err != nil {
		return HeartbeatResult{}, err
	}
	t0 := time.Now()
	time.Sleep(cfg.Measure)
	cpu1, err := cpuTime(d.pid())
	if err != nil {
		return HeartbeatResult{}, err
	}
	wall := time.Since(t0)
	rss, err := rssBytes(d.pid())
	if err != nil {
		return HeartbeatResult{}, err
	}
	nodes, err := d.client.Nodes(ctx)
	if err != nil {
		return HeartbeatResult{}, err
	}
	ready := 0
	for _, n := range nodes {
		if n.State == api.NodeReady {
			ready++
		}
	}
	if dr := dropped.Load(); dr > 0 {
		return HeartbeatResult{}, fmt.Errorf("%d simulated nodes were dropped by the dispatcher while heartbeating", dr)
	}
	cancel()
	wg.Wait()
	return HeartbeatResult{
		CPUPercent: 100 * (cpu1 - cpu0).Seconds() / wall.Seconds(), RSSBytes: rss,
		Registered: ready, Retried: int(retried.Load()),
	}, nil
}

// heartbeatNode registers and then only heartbeats, as an idle node does.
func heartbeatNode(ctx context.Context, d *loopbackDispatcher, i int, every time.Duration, joined func()) error {
	nc, err := d.dialAgent(ctx)
	if err != nil {
		return err
	}
	defer nc.Close()
	context.AfterFunc(ctx, func() { nc.Close() })
	pc := protocol.NewConn(nc)
	err = pc.Send(&protocol.Hello{
		Version: protocol.Version, Token: d.token, MAC: fmt.Sprintf("02:ab:00:%02x:%02x:%02x", i>>16, (i>>8)&0xff, i&0xff),
		Hostname: fmt.Sprintf("hb%d", i), BootID: fmt.Sprintf("hb-boot-%d", i), Cores: 4, MemoryBytes: 64 << 30,
	})
	if err != nil {
		return err
	}
	if m, err := pc.Receive(); err != nil {
		return err
	} else if _, ok := m.(*protocol.Welcome); !ok {
		return fmt.Errorf("hello answered with %s", m.Type())
	}
	joined()
	go func() { // drain: the dispatcher sends nothing to idle nodes, but read anyway
		for {
			if _, err := pc.Receive(); err != nil {
				return
			}
		}
	}()
	time.Sleep(rand.N(every)) // spread the nodes over the period
	t := time.NewTicker(every)
	defer t.Stop()
	hb := &protocol.Heartbeat{Load1: 0.1, MemAvailableBytes: 60 << 30}
	for {
		if err := pc.Send(hb); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// cpuTime returns a process's user plus system CPU time.
func cpuTime(pid int) (time.Duration, error) {
	t, err := procCPU(pid)
	return t.own, err
}

// procTimes is a process's CPU time: its own, and that of the children it
// has waited for (an agent's tasks).
type procTimes struct{ own, reaped time.Duration }

func (t procTimes) sub(u procTimes) procTimes { return procTimes{t.own - u.own, t.reaped - u.reaped} }

// procCPU reads a process's CPU times from /proc.
func procCPU(pid int) (procTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procTimes{}, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: utime, stime, cutime, cstime are the 12th to 15th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	var ticks [4]uint64
	for i := range ticks {
		if ticks[i], err = strconv.ParseUint(f[11+i], 10, 64); err != nil {
			return procTimes{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
		}
	}
	const clockTicks = 100 // USER_HZ on Linux
	return procTimes{
		own:    time.Duration(ticks[0]+ticks[1]) * time.Second / clockTicks,
		reaped: time.Duration(ticks[2]+ticks[3]) * time.Second / clockTicks,
	}, nil
}

// perTask is d per task, in milliseconds.
func perTask(d time.Duration, tasks int) float64 {
	return float64(d.Microseconds()) / 1000 / float64(tasks)
}

// rssBytes returns a process's resident set size.
func rssBytes(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}
