// Package qemutests holds the end-to-end tests: real QEMU machines that
// PXE-boot from the real dispatcher into the real node image and run tasks.
// They need root (namespaces, taps) and the node image (`make image`); they
// fail, never skip, when either is missing.
package qemutests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/dispatcher/console"
	"github.com/ramfarm/ramfarm/initramfs"
	"github.com/ramfarm/ramfarm/qemu-tests/cluster"
	"github.com/ramfarm/ramfarm/qemu-tests/vm"
)

// The machines under test: different core counts (nproc is checked against
// the node that ran it) and both NIC families (e1000 needs one module,
// virtio-net a chain of them loaded in dependency order).
var machines = []cluster.NodeSpec{
	{CPUs: 1, MemoryMB: 512, NIC: "e1000"},
	{CPUs: 2, MemoryMB: 512, NIC: "virtio-net-pci"},
	{CPUs: 1, MemoryMB: 512, NIC: "e1000"},
}

const (
	tasksToRun  = 50
	bootTimeout = 5 * time.Minute // TCG on a loaded 2-core host
)

func TestEndToEnd(t *testing.T) {
	env := prepare(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()

	name := fmt.Sprintf("rfe2e%d", os.Getpid()%100000)
	workDir := t.TempDir()
	c, err := cluster.Start(ctx, cluster.Config{
		Name: name, RamfarmBin: env.ramfarm, ImagesDir: env.images,
		WorkDir: workDir, Nodes: machines, Heartbeat: time.Second,
		BootProfiles: writeBootProfiles(t, workDir),
	})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			c.Close()
		}
	}()
	dumpOnFailure(t, c)

	// 1. Power on every node; each must PXE-boot and register.
	bootSeconds := make([]float64, len(machines))
	for i := range machines {
		if _, err := c.PowerOn(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	nodes := make([]api.Node, len(machines))
	for i := range machines {
		wctx, wcancel := context.WithTimeout(ctx, bootTimeout)
		nodes[i], err = c.WaitReady(wctx, i, "")
		wcancel()
		if err != nil {
			t.Fatalf("node %d never registered: %v", i, err)
		}
		bootSeconds[i] = nodes[i].Registered.Sub(c.Machine(i).StartedAt()).Seconds()
		if nodes[i].Cores != machines[i].CPUs {
			t.Errorf("node %d registered %d cores, machine has %d", i, nodes[i].Cores, machines[i].CPUs)
		}
		assertBootedOverPXE(t, c, i, nodes[i])
		assertBootProfile(t, c, i, nodes[i])
	}
	assertNodeTableProfiles(t, ctx, env.ramfarm, c, nodes)
	assertConsoleForwarded(t, ctx, c, nodes[0].Name)
	coresOf := map[string]int{}
	for _, n := range nodes {
		coresOf[n.Name] = n.Cores
	}

	// 2. Fifty tasks whose outputs we can check.
	checks := cluster.Checks(tasksToRun)
	specs := make([]api.TaskSpec, len(checks))
	for i, ch := range checks {
		specs[i] = api.TaskSpec{Command: ch.Command, Timeout: time.Minute}
	}
	ids, err := c.Client().Submit(ctx, specs)
	if err != nil {
		t.Fatal(err)
	}
	done, err := waitTasks(ctx, c, ids, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ok, ranOn := 0, map[string]int{}
	for i, task := range done {
		if err := checks[i].Verify(task, coresOf[task.Node]); err != nil {
			t.Error(err)
			continue
		}
		ok++
		ranOn[task.Node]++
	}
	if len(ranOn) != len(machines) {
		t.Errorf("tasks ran on %v: want every one of the %d nodes used", ranOn, len(machines))
	}

	// 3. Reboot a node through the console; it must PXE-boot again.
	rebootOK := rebootThroughConsole(t, ctx, c, env.ramfarm, 0, nodes[0])

	// 4. Kill a node with tasks running: its tasks must finish elsewhere.
	rescued := killNodeWithTasks(t, ctx, c, 1, nodes[1])

	// 5. Tear down; nothing may be left behind.
	if err := c.Close(); err != nil {
		t.Errorf("teardown: %v", err)
	}
	closed = true
	if left := vm.Leftovers(name); len(left) > 0 {
		t.Errorf("left behind after teardown: %v", left)
	}

	reboot := "reboot ok"
	if !rebootOK {
		reboot = "reboot FAILED"
	}
	fmt.Printf("e2e: %d/%d nodes booted over PXE, %d/%d tasks ok, %s, boot-to-ready s: %s\n",
		len(machines), len(machines), ok, len(ids), reboot, formatSeconds(bootSeconds))
	fmt.Printf("e2e: node loss: %d/%d tasks of the killed node completed elsewhere\n", rescued.done, rescued.total)
}

type env struct{ ramfarm, images string }

// prepare checks the prerequisites and builds the dispatcher binary.
func prepare(t *testing.T) env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the end-to-end test needs root (network namespaces, tap devices): run `sudo make test`")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Fatal("qemu-system-x86_64 not found: run `make deps`")
	}
	images, _ := filepath.Abs("../images")
	for _, f := range []string{initramfs.KernelName, initramfs.InitrdName} {
		if _, err := os.Stat(filepath.Join(images, f)); err != nil {
			t.Fatalf("node image missing (%v): run `make image` first", err)
		}
	}
	bin := filepath.Join(t.TempDir(), "ramfarm")
	build := exec.Command("go", "build", "-o", bin, "../cmd/ramfarm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build ramfarm: %v\n%s", err, out)
	}
	return env{ramfarm: bin, images: images}
}

// assertBootedOverPXE checks that the dispatcher's own boot services gave
// node i its address, its iPXE script and its kernel and initramfs: proof
// that nothing else booted it.
func assertBootedOverPXE(t *testing.T, c *cluster.Cluster, i int, n api.Node) {
	t.Helper()
	log := c.DispatcherLog()
	mac := cluster.MAC(i).String()
	peer := "peer=" + n.IP + ":"
	evidence := [][]string{
		{`msg="DHCP lease"`, "mac=" + mac},
		{`msg="HTTP request"`, "path=/boot.ipxe", peer},
		{`msg="HTTP request"`, "path=/boot/vmlinuz", peer},
		{`msg="HTTP request"`, "path=/boot/" + initramfs.InitrdName, peer},
	}
	for _, words := range evidence {
		if !logHasLine(log, words...) {
			t.Errorf("node %d (%s): no dispatcher log line with %q: it did not boot from our servers", i, mac, words)
		}
	}
}

// logHasLine reports whether one line of log holds every word.
func logHasLine(log string, words ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			return true
		}
	}
	return false
}

// waitTasks waits, at most limit, until every task in ids has a result.
func waitTasks(ctx context.Context, c *cluster.Cluster, ids []uint64, limit time.Duration) ([]api.Task, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	done, err := console.WaitTasks(ctx, c.Client(), ids, 200*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("%d tasks not all finished within %s: %w", len(ids), limit, err)
	}
	return done, nil
}

func rebootThroughConsole(t *testing.T, ctx context.Context, c *cluster.Cluster, ramfarm string, i int, before api.Node) bool {
	t.Helper()
	out, err := exec.CommandContext(ctx, ramfarm, "reboot", "--api-socket", c.APISocket(), before.Name).CombinedOutput()
	if err != nil {
		t.Errorf("ramfarm reboot %s: %v\n%s", before.Name, err, out)
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	after, err := c.WaitReady(wctx, i, before.BootID)
	if err != nil {
		t.Errorf("node %s did not come back after reboot: %v", before.Name, err)
		return false
	}
	if after.Name != before.Name || !after.Registered.After(before.Registered) {
		t.Errorf("after reboot: %+v; want %s registered anew with a new boot id", after, before.Name)
		return false
	}
	return true
}

type rescue struct{ done, total int }

// killNodeWithTasks fills every slot with slow tasks, kills node i's QEMU
// once it runs some, and checks that those tasks complete on other nodes.
func killNodeWithTasks(t *testing.T, ctx context.Context, c *cluster.Cluster, i int, victim api.Node) rescue {
	t.Helper()
	slots := 0
	for _, m := range machines {
		slots += m.CPUs
	}
	specs := make([]api.TaskSpec, slots)
	for k := range specs {
		specs[k] = api.TaskSpec{Command: fmt.Sprintf("sleep 8; echo survived-%d", k)}
	}
	ids, err := c.Client().Submit(ctx, specs)
	if err != nil {
		t.Fatal(err)
	}
	var onVictim []uint64
	deadline := time.Now().Add(time.Minute)
	for len(onVictim) == 0 {
		nodes, err := c.Client().Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if n.Name == victim.Name {
				onVictim = n.Running
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("no task reached %s within a minute", victim.Name)
			return rescue{}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := c.Machine(i).Kill(); err != nil {
		t.Fatalf("kill node %d: %v", i, err)
	}
	done, err := waitTasks(ctx, c, ids, 3*time.Minute)
	if err != nil {
		t.Errorf("after killing %s: %v", victim.Name, err)
		return rescue{total: len(onVictim)}
	}
	r := rescue{total: len(onVictim)}
	for _, task := range done {
		want := fmt.Sprintf("survived-%d", task.ID-ids[0])
		if task.Result.ExitCode != 0 || strings.TrimSpace(task.Result.Stdout) != want {
			t.Errorf("task %d: %+v, want output %s", task.ID, task.Result, want)
		}
		for _, id := range onVictim {
			if task.ID != id {
				continue
			}
			if task.Node == victim.Name || task.Attempt < 2 {
				t.Errorf("task %d of the killed node finished on %s, attempt %d: want another node, attempt 2+", id, task.Node, task.Attempt)
			} else {
				r.done++
			}
		}
	}
	return r
}

func formatSeconds(s []float64) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprintf("%.1f", v)
	}
	return strings.Join(parts, " ")
}

// dumpOnFailure prints the dispatcher log and the serial consoles when the
// test fails, which is where the reason will be.
func dumpOnFailure(t *testing.T, c *cluster.Cluster) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		t.Logf("dispatcher log:\n%s", tail(c.DispatcherLog(), 200))
		for i := range machines {
			if m := c.Machine(i); m != nil {
				t.Logf("node %d serial console:\n%s", i, tail(m.Log(), 60))
			}
		}
	})
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// assertConsoleForwarded checks that a node's console reached the
// dispatcher: the kernel's first line of the boot and the agent's log line
// of its registration.
func assertConsoleForwarded(t *testing.T, ctx context.Context, c *cluster.Cluster, node string) {
	t.Helper()
	want := []string{" kernel Linux version ", " agent ", "registered with dispatcher"}
	var lines []string
	deadline := time.Now().Add(30 * time.Second) // the agent forwards once a second
	for time.Now().Before(deadline) {
		var err error
		if lines, err = c.Client().ConsoleLog(ctx, node, api.MaxLogLines); err != nil {
			t.Fatal(err)
		}
		all := strings.Join(lines, "\n")
		if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(all, w) }) {
			t.Logf("console of %s: %d lines forwarded, kernel and agent both", node, len(lines))
			return
		}
		time.Sleep(time.Second)
	}
	t.Errorf("console of %s lacks one of %q; last lines:\n%s", node, want, strings.Join(lines[max(0, len(lines)-20):], "\n"))
}
