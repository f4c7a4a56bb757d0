package dispatcher

import (
	"sync"

	"github.com/ramfarm/ramfarm/dispatcher/store"
)

// specCache keeps what nodes need of queued tasks, from their submission
// until they leave the queue, so that handing one out need not read it
// back from the store. At 20,000 tasks/s that read (two B-tree lookups and
// a JSON decode per task) was 9% of the dispatcher's CPU.
//
// It is bounded in bytes: a task submitted while the cache is full is read
// from the store when it goes out, as all tasks are after a restart, so a
// queue of millions costs no more memory than before.
type specCache struct {
	mu    sync.Mutex
	specs map[uint64]store.Sendable
	bytes int // held now, by entryCost
	limit int
}

// specCacheBytes is the bound: some 190,000 tasks of short commands.
const specCacheBytes = 32 << 20

func newSpecCache(limit int) *specCache {
	return &specCache{specs: map[uint64]store.Sendable{}, limit: limit}
}

// entryCost is what an entry holds of memory, roughly: its command, and
// the struct, the map slot and the map's slack around it. Measured: a
// million 50-byte commands submitted, of which the 188,000 the bound lets
// in are cached, grew the heap by 29 MB more than without the cache, about
// 155 bytes an entry against the 178 counted.
func entryCost(s store.Sendable) int { return len(s.Command) + 128 }

// addAll caches the tasks ids, as far as the bound allows.
func (c *specCache) addAll(ids []uint64, specs []store.TaskSpec) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, id := range ids {
		s := specs[i].Sendable()
		if c.bytes+entryCost(s) > c.limit {
			return
		}
		c.specs[id] = s
		c.bytes += entryCost(s)
	}
}

// get returns the cached task id, if it is cached.
func (c *specCache) get(id uint64) (store.Sendable, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.specs[id]
	return s, ok
}

// drop forgets task id, which has left the queue.
func (c *specCache) drop(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.specs[id]; ok {
		delete(c.specs, id)
		c.bytes -= entryCost(s)
	}
}
