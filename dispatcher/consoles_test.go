package dispatcher

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/dispatcher/api"
	"github.com/ramfarm/ramfarm/protocol"
)

// What a node forwards of its console is kept on disk, readable after the
// node is gone and the dispatcher restarted, with no terminal escapes.
func TestNodeConsoleLogIsKept(t *testing.T) {
	dir := t.TempDir()
	h := startDispatcher(t, dir)
	a := join(t, h, "52:54:00:00:03:01", 1)
	at := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	a.send(&protocol.Log{Dropped: 2, Lines: []protocol.LogLine{
		{Time: at, Source: "kernel", Text: "e1000: eth0 NIC Link is Up"},
		{Time: at.Add(time.Second), Source: "agent", Text: "evil \x1b[2Jclear"},
	}})
	var lines []string
	waitFor(t, "console lines stored", func() bool {
		lines, _ = h.d.ConsoleLog(a.name, 10)
		return len(lines) == 3
	})
	if !strings.Contains(lines[0], "2 lines lost") ||
		lines[1] != "2026-11-21T08:00:00Z kernel e1000: eth0 NIC Link is Up" ||
		lines[2] != "2026-11-21T08:00:01Z agent evil ?[2Jclear" {
		t.Fatalf("console log:\n%s", strings.Join(lines, "\n"))
	}
	a.silence()
	h.shutdown()

	h = startDispatcher(t, dir)
	if lines, err := h.d.ConsoleLog(a.name, 1); err != nil || len(lines) != 1 || !strings.Contains(lines[0], "evil") {
		t.Fatalf("after a restart, without the node: %q %v", lines, err)
	}
	if _, err := h.d.ConsoleLog("../../etc/passwd", 1); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a name that is no node's: %v, want ErrNotFound", err)
	}
}

// A log past its size moves to NAME.log.1 (replacing the older one), and
// the tail reads across both.
func TestConsoleFilesRotate(t *testing.T) {
	c, err := newConsoleFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c.maxSize = 200
	for i := range 30 {
		line := protocol.LogLine{Time: time.Unix(int64(i), 0), Source: "agent", Text: "line " + string(rune('a'+i%26))}
		if err := c.append("node1", &protocol.Log{Lines: []protocol.LogLine{line}}); err != nil {
			t.Fatal(err)
		}
	}
	lines, err := c.tail("node1", 4)
	if err != nil || len(lines) != 4 || !strings.HasSuffix(lines[3], "line d") {
		t.Fatalf("tail after rotations: %q %v, want 4 lines ending with the 30th", lines, err)
	}
	all, _ := c.tail("node1", 1000)
	if len(all) >= 30 || len(all) < 4 {
		t.Fatalf("%d lines kept of 30 with a 200-byte limit: rotation did not bound the files", len(all))
	}
}
