package qemutests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/qemu-tests/cluster"
)

// kexecAndCheck restarts node i, booted over PXE, with `ramfarm kexec`'s
// API call, and checks that it came back without its firmware: registered
// with a new boot id, its kernel and initramfs fetched once more (by the
// agent), no boot script fetched (iPXE always fetches one), and one more
// kernel banner on its serial console.
func kexecAndCheck(t *testing.T, ctx context.Context, c *cluster.Cluster, i int, before api.Node, kernel, initrd string) {
	t.Helper()
	peer := "peer=" + before.IP + ":"
	count := func(path string) int {
		return countLines(c.DispatcherLog(), `msg="HTTP request"`, "path="+path+" ", peer)
	}
	scripts, kernels, initrds := count("/boot.ipxe"), count("/boot/"+kernel), count("/boot/"+initrd)
	banners := strings.Count(c.Machine(i).Log(), "Linux version")

	asked := time.Now()
	if err := c.Client().Kexec(ctx, before.Name); err != nil {
		t.Errorf("kexec %s: %v", before.Name, err)
		return
	}
	wctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	after, err := c.WaitReady(wctx, i, before.BootID)
	if err != nil {
		t.Errorf("node %s did not come back after kexec: %v\nserial console:\n%s", before.Name, err, tail(c.Machine(i).Log(), 40))
		return
	}
	t.Logf("kexec: %s registered again %.1f s after the request", after.Name, time.Since(asked).Seconds())
	if after.Name != before.Name {
		t.Errorf("after kexec the node is %s, want %s", after.Name, before.Name)
	}
	if got := count("/boot.ipxe"); got != scripts {
		t.Errorf("boot script fetched %d times after kexec: the node went through its firmware", got-scripts)
	}
	if k, ird := count("/boot/"+kernel), count("/boot/"+initrd); k != kernels+1 || ird != initrds+1 {
		t.Errorf("kernel fetched %d and initramfs %d more times, want once each (by the agent)", k-kernels, ird-initrds)
	}
	if got := strings.Count(c.Machine(i).Log(), "Linux version"); got != banners+1 {
		t.Errorf("%d kernel banners on the serial console after kexec, want %d", got, banners+1)
	}
}

// countLines counts the lines of log that hold every word.
func countLines(log string, words ...string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		if logHasLine(line, words...) {
			n++
		}
	}
	return n
}
