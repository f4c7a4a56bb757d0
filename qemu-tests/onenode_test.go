package qemutests

import (
	"context"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/qemu-tests/cluster"
	"github.com/ramfarm/ramfarm/qemu-tests/vm"
)

// oneNode is a cluster of one node that booted and registered, for the
// tests of one boot path each (TestUEFIBoot, TestProxyDHCP).
type oneNode struct {
	name        string
	c           *cluster.Cluster
	watch       *vm.DHCPWatch // DHCP on the cluster's network since before power-on
	node        api.Node
	bootSeconds float64 // power-on to registered
}

// bootOneNode starts a cluster with cfg, whose one node it powers on while
// recording DHCP, and waits until the node's agent is ready. The cluster
// is closed when the test ends, after its logs are dumped if it failed.
func bootOneNode(t *testing.T, ctx context.Context, cfg cluster.Config) *oneNode {
	t.Helper()
	c, err := cluster.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() }) // Close is idempotent: tearDown may have run
	dumpOnFailure(t, c)
	t.Cleanup(func() {
		if site := c.SiteDHCPLog(); t.Failed() && site != "" {
			t.Logf("site DHCP server (dnsmasq) log:\n%s", tail(site, 60))
		}
	})
	watch, err := c.WatchDHCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watch.Close() })
	if _, err := c.PowerOn(ctx, 0); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	node, err := c.WaitReady(wctx, 0, "")
	if err != nil {
		t.Fatalf("node never registered: %v", err)
	}
	return &oneNode{name: cfg.Name, c: c, watch: watch, node: node,
		bootSeconds: node.Registered.Sub(c.Machine(0).StartedAt()).Seconds()}
}

// packets returns the DHCP messages seen so far.
func (o *oneNode) packets(t *testing.T) []vm.DHCPPacket {
	t.Helper()
	p, err := o.watch.Packets()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runOneTask runs one task with a known answer, which must run on the node.
func (o *oneNode) runOneTask(t *testing.T, ctx context.Context) {
	t.Helper()
	check := cluster.Checks(1)[0]
	ids, err := o.c.Client().Submit(ctx, []api.TaskSpec{{Command: check.Command, Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	done, err := waitTasks(ctx, o.c, ids, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := check.Verify(done[0], o.node.Cores); err != nil {
		t.Error(err)
	}
	if done[0].Node != o.node.Name {
		t.Errorf("task ran on %q, want %s", done[0].Node, o.node.Name)
	}
}

// tearDown closes the cluster and checks that nothing of it is left.
func (o *oneNode) tearDown(t *testing.T) {
	t.Helper()
	if err := o.c.Close(); err != nil {
		t.Errorf("teardown: %v", err)
	}
	if left := vm.Leftovers(o.name); len(left) > 0 {
		t.Errorf("left behind after teardown: %v", left)
	}
}
