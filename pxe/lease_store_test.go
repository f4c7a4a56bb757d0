package pxe

import (
	"maps"
	"net"
	"slices"
	"sync"
)

// memLeaseStore is a LeaseStore in memory, for tests: a "restart" is a new
// Server on the same store. fail, when set, makes every write fail with it.
type memLeaseStore struct {
	mu     sync.Mutex
	leases map[string]Lease // by MAC
	writes int
	fail   error
}

func newMemLeaseStore() *memLeaseStore {
	return &memLeaseStore{leases: make(map[string]Lease)}
}

func (s *memLeaseStore) LoadLeases() ([]Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Values(s.leases)), nil
}

func (s *memLeaseStore) SaveLease(l Lease) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.writes++
	s.leases[string(l.MAC)] = l
	return nil
}

func (s *memLeaseStore) DeleteLease(mac net.HardwareAddr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.writes++
	delete(s.leases, string(mac))
	return nil
}

// lease returns what the store has under mac.
func (s *memLeaseStore) lease(mac net.HardwareAddr) (Lease, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.leases[string(mac)]
	return l, ok
}
