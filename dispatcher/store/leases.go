package store

import (
	"encoding/json"
	"fmt"
	"net"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bucketLeases = []byte("leases") // mac -> Lease

// Lease is a DHCP lease as the boot services hand it to the store.
type Lease struct {
	MAC      string    `json:"mac"`
	IP       string    `json:"ip"`
	Hostname string    `json:"hostname,omitempty"`
	Expiry   time.Time `json:"expiry"`
	Declined bool      `json:"declined,omitempty"`
}

// SaveLease stores a lease, replacing the MAC's previous one. It returns
// once the lease is on disk; concurrent calls share commits, so a rack
// booting at once does not queue on fsyncs.
func (s *Store) SaveLease(l Lease) error {
	mac, err := net.ParseMAC(l.MAC)
	if err != nil {
		return fmt.Errorf("lease: %w", err)
	}
	v, err := json.Marshal(l)
	if err != nil {
		return err
	}
	return s.batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLeases).Put(mac, v)
	})
}

// DeleteLease forgets the lease of a MAC, if any.
func (s *Store) DeleteLease(mac string) error {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return fmt.Errorf("lease: %w", err)
	}
	return s.batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLeases).Delete(hw)
	})
}

// Leases returns every stored lease.
func (s *Store) Leases() ([]Lease, error) {
	var out []Lease
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLeases).ForEach(func(k, v []byte) error {
			var l Lease
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("lease %s: corrupt record: %w", net.HardwareAddr(k), err)
			}
			out = append(out, l)
			return nil
		})
	})
	return out, err
}
