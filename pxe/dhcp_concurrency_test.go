package pxe

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// blockingStore holds up the SaveLease of one MAC until released.
type blockingStore struct {
	*memLeaseStore
	mac      string
	entered  chan struct{} // closed when that SaveLease has started
	released chan struct{} // close to let it finish
}

func (s *blockingStore) SaveLease(l Lease) error {
	if l.MAC.String() == s.mac {
		close(s.entered)
		<-s.released
	}
	return s.memLeaseStore.SaveLease(l)
}

// TestSlowStoreDoesNotHoldUpOtherClients: while one client's lease is being
// saved, another client's whole exchange goes through. A store can only
// group-commit writes that are in flight together.
func TestSlowStoreDoesNotHoldUpOtherClients(t *testing.T) {
	const slow = "52:54:00:00:00:0a"
	store := &blockingStore{memLeaseStore: newMemLeaseStore(), mac: slow,
		entered: make(chan struct{}), released: make(chan struct{})}
	s := storeServer(t, store, &fakeClock{now: testEpoch})
	addr := s.discover(t, slow).YourIPAddr.String()
	acked := make(chan *reply, 1)
	go func() { acked <- s.request(t, slow, addr, "10.77.0.1") }()
	<-store.entered

	done := make(chan error, 1)
	var other string
	go func() {
		var err error
		other, err = s.tryLease(t, "52:54:00:00:00:0b")
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		if other == addr {
			t.Errorf("the other client got %s too", addr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("another client's exchange waited for a slow SaveLease")
	}
	select {
	case <-acked:
		t.Fatal("the slow client was ACKed before its lease was saved")
	default:
	}
	close(store.released)
	if out := <-acked; out == nil || out.msg.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("the slow client got %v once its lease was saved, want ACK", out)
	}
}

// TestConcurrentClientsGetDistinctAddresses runs many clients at once, as
// the socket's workers do, and checks that no address went to two of them
// and that the store holds exactly what was ACKed.
func TestConcurrentClientsGetDistinctAddresses(t *testing.T) {
	store := newMemLeaseStore()
	s := newTestServerAt(t, &fakeClock{now: testEpoch}, func(c *Config) { c.Leases = store })
	const clients = 90 // of the 100 addresses
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked = make(map[string]string) // address -> MAC
	)
	for i := range clients {
		mac := fmt.Sprintf("52:54:00:00:01:%02x", i)
		wg.Go(func() {
			addr, err := s.tryLease(t, mac)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if other, taken := acked[addr]; taken {
				t.Errorf("%s ACKed to both %s and %s", addr, other, mac)
			}
			acked[addr] = mac
		})
	}
	wg.Wait()
	leases, _ := store.LoadLeases()
	if len(leases) != clients {
		t.Errorf("store holds %d leases, want %d", len(leases), clients)
	}
	for _, l := range leases {
		if acked[l.IP.String()] != l.MAC.String() {
			t.Errorf("store says %v has %v; ACKed to %s", l.MAC, l.IP, acked[l.IP.String()])
		}
	}
}
