package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Node is what the dispatcher remembers of a machine across restarts.
type Node struct {
	MAC       string    `json:"mac"`
	Name      string    `json:"name"`
	FirstSeen time.Time `json:"first_seen"`
}

// NodeName returns the name of the node with this MAC, giving it the next
// free name ("node1", "node2", ...) the first time the MAC is seen. Names are
// stable: a node keeps its name across reboots and dispatcher restarts.
func (s *Store) NodeName(mac string) (string, error) {
	var name string
	err := s.db.Update(func(tx *bolt.Tx) error {
		nodes := tx.Bucket(bucketNodes)
		if v := nodes.Get([]byte(mac)); v != nil {
			var n Node
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("node %s: corrupt record: %w", mac, err)
			}
			name = n.Name
			return nil
		}
		seq, err := nodes.NextSequence()
		if err != nil {
			return err
		}
		name = fmt.Sprintf("node%d", seq)
		v, err := json.Marshal(Node{MAC: mac, Name: name, FirstSeen: time.Now().UTC()})
		if err != nil {
			return err
		}
		return nodes.Put([]byte(mac), v)
	})
	return name, err
}

// Nodes returns every node ever seen.
func (s *Store) Nodes() ([]Node, error) {
	var out []Node
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNodes).ForEach(func(k, v []byte) error {
			var n Node
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("node %s: corrupt record: %w", k, err)
			}
			out = append(out, n)
			return nil
		})
	})
	return out, err
}
