package dispatcher

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/ramfarm/ramfarm/dispatcher/api"
)

// A million queued tasks must not cost the dispatcher gigabytes: the queue
// holds ids, the commands stay on disk but for the spec cache's bounded
// share. The bound is generous (the figure here is about 70 MB: 42 bytes a
// task in the queue, and under 32 MiB for the cache) so that it fails only
// on a real regression, such as keeping every command in memory.
func TestMillionQueuedTasksStayInBoundedMemory(t *testing.T) {
	const tasks, bound = 1_000_000, 256 << 20
	h := startDispatcher(t, t.TempDir())
	before := heapInUse()
	batch := make([]api.TaskSpec, api.MaxSubmit)
	for i := 0; i < tasks; i += len(batch) {
		for j := range batch {
			batch[j] = api.TaskSpec{Command: fmt.Sprintf("echo task %d with a command of ordinary length", i+j)}
		}
		if _, err := h.d.Submit(batch); err != nil {
			t.Fatal(err)
		}
	}
	batch = nil
	grew := heapInUse() - before
	t.Logf("%d queued tasks: dispatcher heap grew by %d MB (%d bytes per task)", tasks, grew>>20, grew/tasks)
	if grew > bound {
		t.Fatalf("heap grew by %d MB for %d queued tasks, bound %d MB", grew>>20, tasks, bound>>20)
	}
	if n := h.d.queue.Len(); n != tasks {
		t.Fatalf("queue holds %d tasks, want %d", n, tasks)
	}
}

func heapInUse() int {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int(m.HeapInuse)
}
