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
	Drained   bool      `json:"drained,omitempty"` // gets no new tasks
}

// NodeFor returns the record of the node with this MAC, creating it with
// the next free name ("node1", "node2", ...) the first time the MAC is seen.
// Names are stable: a node keeps its name across reboots and dispatcher
// restarts.
//
// A known node costs a read; new nodes are written in group commits, so a
// whole rack registering at once shares fsyncs.
func (s *Store) NodeFor(mac string) (Node, error) {
	var n *Node
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = knownNode(tx, mac)
		return err
	})
	if err != nil || n != nil {
		return deref(n), err
	}
	err = s.batch(func(tx *bolt.Tx) error {
		var err error
		if n, err = knownNode(tx, mac); err != nil || n != nil {
			return err // named by a concurrent registration of the same MAC
		}
		nodes := tx.Bucket(bucketNodes)
		seq, err := nodes.NextSequence()
		if err != nil {
			return err
		}
		n = &Node{MAC: mac, Name: fmt.Sprintf("node%d", seq), FirstSeen: time.Now().UTC()}
		return putNode(tx, n)
	})
	return deref(n), err
}

// NodeName returns the name of the node with this MAC (see NodeFor).
func (s *Store) NodeName(mac string) (string, error) {
	n, err := s.NodeFor(mac)
	return n.Name, err
}

// SetDrained marks a known node as drained (given no new tasks) or not. The
// mark survives restarts.
func (s *Store) SetDrained(mac string, drained bool) error {
	return s.batch(func(tx *bolt.Tx) error {
		n, err := knownNode(tx, mac)
		if err != nil {
			return err
		}
		if n == nil {
			return fmt.Errorf("node %s: never registered", mac)
		}
		n.Drained = drained
		return putNode(tx, n)
	})
}

// knownNode returns the record of a MAC already seen, or nil.
func knownNode(tx *bolt.Tx, mac string) (*Node, error) {
	v := tx.Bucket(bucketNodes).Get([]byte(mac))
	if v == nil {
		return nil, nil
	}
	var n Node
	if err := json.Unmarshal(v, &n); err != nil {
		return nil, fmt.Errorf("node %s: corrupt record: %w", mac, err)
	}
	return &n, nil
}

func putNode(tx *bolt.Tx, n *Node) error {
	v, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketNodes).Put([]byte(n.MAC), v)
}

func deref(n *Node) Node {
	if n == nil {
		return Node{}
	}
	return *n
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
