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
//
// A known node costs a read; new nodes are written in group commits, so a
// whole rack registering at once shares fsyncs.
func (s *Store) NodeName(mac string) (string, error) {
	var name string
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		name, err = knownName(tx, mac)
		return err
	})
	if err != nil || name != "" {
		return name, err
	}
	err = s.batch(func(tx *bolt.Tx) error {
		var err error
		if name, err = knownName(tx, mac); err != nil || name != "" {
			return err // named by a concurrent registration of the same MAC
		}
		nodes := tx.Bucket(bucketNodes)
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

// knownName returns the name of a MAC already seen, or "".
func knownName(tx *bolt.Tx, mac string) (string, error) {
	v := tx.Bucket(bucketNodes).Get([]byte(mac))
	if v == nil {
		return "", nil
	}
	var n Node
	if err := json.Unmarshal(v, &n); err != nil {
		return "", fmt.Errorf("node %s: corrupt record: %w", mac, err)
	}
	return n.Name, nil
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
