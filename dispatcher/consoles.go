package dispatcher

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ramfarm/ramfarm/protocol"
)

// consoleFiles keeps what nodes forward of their consoles, one file per
// node under STATE_DIR/consoles: NAME.log, and NAME.log.1 once it passes
// maxConsoleFile. A node has no disk, so this is where its boot messages
// and last words survive it, and a dispatcher restart.
type consoleFiles struct {
	dir     string
	maxSize int64      // a file past this becomes NAME.log.1
	mu      sync.Mutex // serialises appends and rotations
}

const maxConsoleFile = 4 << 20

func newConsoleFiles(stateDir string) (*consoleFiles, error) {
	dir := filepath.Join(stateDir, "consoles")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("console logs: %w", err)
	}
	return &consoleFiles{dir: dir, maxSize: maxConsoleFile}, nil
}

// append writes a node's forwarded lines as "TIME SOURCE TEXT". Node names
// are the dispatcher's own (node1, node2...), safe as file names.
func (c *consoleFiles) append(node string, m *protocol.Log) error {
	var b strings.Builder
	if m.Dropped > 0 {
		fmt.Fprintf(&b, "%s ramfarm (%d lines lost on the node before these: its buffer was full)\n",
			time.Now().UTC().Format(time.RFC3339Nano), m.Dropped)
	}
	for _, l := range m.Lines {
		fmt.Fprintf(&b, "%s %s %s\n", l.Time.UTC().Format(time.RFC3339Nano), printable(l.Source), printable(l.Text))
	}
	path := filepath.Join(c.dir, node+".log")
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(b.String())
	info, statErr := f.Stat()
	if err := errors.Join(err, statErr, f.Close()); err != nil {
		return err
	}
	if info.Size() > c.maxSize {
		return os.Rename(path, path+".1")
	}
	return nil
}

// tail returns the last n lines a node forwarded, oldest first.
func (c *consoleFiles) tail(node string, n int) ([]string, error) {
	path := filepath.Join(c.dir, node+".log")
	var lines []string
	for _, p := range []string{path + ".1", path} {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 64<<10)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if len(lines) > 2*n {
				lines = append(lines[:0], lines[len(lines)-n:]...)
			}
		}
		err = errors.Join(sc.Err(), f.Close())
		if err != nil {
			return nil, err
		}
	}
	return lines[max(0, len(lines)-n):], nil
}

// printable replaces control characters, so that a node cannot send escape
// sequences to the terminal of an admin reading its log.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return '?'
		}
		return r
	}, s)
}
