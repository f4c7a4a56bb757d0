package pxe

import "sync"

// keyedMutex is a set of mutexes, one per key, that exist only while
// someone holds or waits for them. The DHCP handler locks a client's MAC for
// the whole of a request, store writes included, so that one client's
// leases reach the LeaseStore in the order they were granted, while other
// clients' requests go on meanwhile.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	users int // holder and waiters; guarded by keyedMutex.mu
}

// lock locks key and returns the function that unlocks it.
func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = make(map[string]*keyedLock)
	}
	l, ok := k.locks[key]
	if !ok {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()

	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
