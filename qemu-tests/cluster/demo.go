package cluster

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/dispatcher/console"
)

// Demo boots a cluster, runs a small batch of tasks on it, prints what
// happened and tears everything down. It is `make demo`.
func Demo(ctx context.Context, cfg Config, tasks int, out io.Writer) error {
	start := time.Now()
	fmt.Fprintf(out, "demo: starting the dispatcher on bridge br0 in network namespace %s\n", cfg.Name)
	c, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "demo: powering off the nodes and removing the network")
		c.Close()
	}()

	fmt.Fprintf(out, "demo: powering on %d QEMU nodes; they PXE-boot from the dispatcher (TCG emulation: allow a minute)\n", len(cfg.Nodes))
	var wg sync.WaitGroup
	errs := make([]error, len(cfg.Nodes))
	for i := range cfg.Nodes {
		if _, err := c.PowerOn(ctx, i); err != nil {
			return err
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			defer cancel()
			n, err := c.WaitReady(bctx, i, "")
			if err != nil {
				errs[i] = fmt.Errorf("%w (serial console: %s)", err, c.Machine(i).Log())
				return
			}
			fmt.Fprintf(out, "demo: %s (%s, %d cores) ready %.1f s after power-on\n",
				n.Name, n.IP, n.Cores, n.Registered.Sub(c.Machine(i).StartedAt()).Seconds())
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}

	checks := Checks(tasks)
	specs := make([]api.TaskSpec, len(checks))
	for i, ch := range checks {
		specs[i] = api.TaskSpec{Command: ch.Command, Timeout: time.Minute}
	}
	fmt.Fprintf(out, "demo: submitting %d tasks\n", len(specs))
	ids, err := c.Client().Submit(ctx, specs)
	if err != nil {
		return err
	}
	done, err := console.WaitTasks(ctx, c.Client(), ids, 200*time.Millisecond)
	if err != nil {
		return err
	}
	nodes, err := c.Client().Nodes(ctx)
	if err != nil {
		return err
	}
	cores := map[string]int{}
	for _, n := range nodes {
		cores[n.Name] = n.Cores
	}
	failed := 0
	for i, t := range done {
		if err := checks[i].Verify(t, cores[t.Node]); err != nil {
			fmt.Fprintf(out, "demo: WRONG RESULT: %v\n", err)
			failed++
		}
	}
	fmt.Fprintln(out, "\nResults (ramfarm tasks):")
	console.WriteTaskTable(out, done, true)
	fmt.Fprintln(out, "\nNodes (ramfarm nodes):")
	console.WriteNodeTable(out, nodes, time.Now())
	fmt.Fprintf(out, "\ndemo: %d/%d results verified in %s\n", len(done)-failed, len(done), time.Since(start).Round(time.Second))
	if failed > 0 {
		return fmt.Errorf("%d wrong results", failed)
	}
	return nil
}
