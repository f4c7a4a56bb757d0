package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/protocol"
)

// CapacityConfig is a dispatcher capacity run: simulated nodes that answer
// every task at once, so only the dispatcher (and its store) limits the rate.
type CapacityConfig struct {
	Ramfarm string // the dispatcher binary
	WorkDir string
	Tasks   int // tasks to push through
	Nodes   int // simulated nodes
	Slots   int // slots per node
}

// CapacityResult is the throughput and the latency from a task being handed
// out (received by a node) to its result being recorded (acknowledged).
type CapacityResult struct {
	TasksPerSecond float64
	P50, P99       time.Duration
	// CPU time per task over the run, of the dispatcher process and of the
	// load generator (this process): both share the machine's cores, so
	// what the simulated nodes burn the dispatcher lacks.
	DispatcherCPU, LoadCPU time.Duration
	Commits                commitCount // the dispatcher's group commits over the run
}

// CommitsDetail says how the run's results shared commits.
func (r CapacityResult) CommitsDetail(tasks int) string { return r.Commits.describe(tasks) }

// Capacity runs the dispatcher alone under simulated nodes.
func Capacity(ctx context.Context, cfg CapacityConfig) (CapacityResult, error) {
	d, err := startLoopbackDispatcher(ctx, cfg.Ramfarm, cfg.WorkDir)
	if err != nil {
		return CapacityResult{}, err
	}
	defer d.stop()
	c := d.client

	// Queue everything first: the run measures hand-out and recording.
	for left := cfg.Tasks; left > 0; {
		n := min(left, 10_000)
		specs := make([]api.TaskSpec, n)
		for i := range specs {
			specs[i] = api.TaskSpec{Command: "true"}
		}
		if _, err := c.Submit(ctx, specs); err != nil {
			return CapacityResult{}, err
		}
		left -= n
	}

	var done atomic.Int64
	var mu sync.Mutex
	latencies := make([]time.Duration, 0, cfg.Tasks)
	allDone := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cpuBefore, err := cpuTimes([]int{d.pid(), os.Getpid()})
	if err != nil {
		return CapacityResult{}, err
	}
	commitsBefore, err := d.commits(ctx)
	if err != nil {
		return CapacityResult{}, err
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Nodes)
	for i := 0; i < cfg.Nodes; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			lat, err := simulateNode(ctx, d, i, cfg.Slots, func() {
				if done.Add(1) == int64(cfg.Tasks) {
					once.Do(func() { close(allDone) })
				}
			})
			mu.Lock()
			latencies = append(latencies, lat...)
			mu.Unlock()
			if err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("node %d: %w", i, err)
			}
		}(i)
	}
	select {
	case <-allDone:
	case err := <-errs:
		cancel()
		wg.Wait()
		return CapacityResult{}, err
	case <-ctx.Done():
		wg.Wait()
		return CapacityResult{}, fmt.Errorf("%d of %d tasks done: %w", done.Load(), cfg.Tasks, ctx.Err())
	}
	elapsed := time.Since(start)
	cpuAfter, err := cpuTimes([]int{d.pid(), os.Getpid()})
	if err != nil {
		return CapacityResult{}, err
	}
	commitsAfter, err := d.commits(ctx)
	if err != nil {
		return CapacityResult{}, err
	}
	cancel()
	wg.Wait()
	slices.Sort(latencies)
	return CapacityResult{
		TasksPerSecond: float64(cfg.Tasks) / elapsed.Seconds(),
		P50:            percentile(latencies, 0.50),
		P99:            percentile(latencies, 0.99),
		DispatcherCPU:  (cpuAfter[0].own - cpuBefore[0].own) / time.Duration(cfg.Tasks),
		LoadCPU:        (cpuAfter[1].own - cpuBefore[1].own) / time.Duration(cfg.Tasks),
		Commits:        commitsAfter.sub(commitsBefore),
	}, nil
}

// simulateNode speaks the agent protocol and answers each task at once
// with a successful empty result. It returns the latency of each task from
// its arrival to its acknowledgement.
//
// A slot stays busy until the result is acknowledged: the request for the
// next task follows the ack. A real agent frees the slot with the result
// (both in one write), but its tasks take time; these take none, so
// freeing the slot at the result would let results pile up in front of
// the store without bound, and the latency would measure that queue. Held
// to the ack, a run has exactly nodes x slots tasks in flight, and by
// Little's law its latency is that over the rate. (Tried: requests sent
// with the results while a node had at most `slots` unacknowledged, which
// saved the dispatcher no measurable CPU and doubled the tasks in flight.)
func simulateNode(ctx context.Context, d *loopbackDispatcher, i, slots int, finished func()) ([]time.Duration, error) {
	nc, err := d.dialAgent(ctx)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	context.AfterFunc(ctx, func() { nc.Close() })
	pc := protocol.NewConn(nc)
	hello := &protocol.Hello{
		Version: protocol.Version, Token: d.token, MAC: fmt.Sprintf("02:be:00:00:%02x:%02x", i>>8, i&0xff),
		Hostname: fmt.Sprintf("sim%d", i), BootID: fmt.Sprintf("sim-boot-%d", i), Cores: slots,
	}
	if err := pc.Send(hello); err != nil {
		return nil, err
	}
	if m, err := pc.Receive(); err != nil {
		return nil, err
	} else if _, ok := m.(*protocol.Welcome); !ok {
		return nil, fmt.Errorf("hello answered with %s", m.Type())
	}
	if err := pc.Send(&protocol.Request{Slots: slots}); err != nil {
		return nil, err
	}
	arrived := map[protocol.TaskRef]time.Time{}
	var lat []time.Duration
	for {
		m, err := pc.Receive()
		if err != nil {
			return lat, err
		}
		switch m := m.(type) {
		case *protocol.Task:
			now := time.Now()
			arrived[m.TaskRef] = now
			if err := pc.Send(&protocol.Result{TaskRef: m.TaskRef, Started: now}); err != nil {
				return lat, err
			}
		case *protocol.ResultAck:
			if t, ok := arrived[m.TaskRef]; ok {
				lat = append(lat, time.Since(t))
				delete(arrived, m.TaskRef)
			}
			finished()
			if err := pc.Send(&protocol.Request{Slots: 1}); err != nil {
				return lat, err
			}
		}
	}
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}
