package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/protocol"
)

func TestKernelLineParsesKmsgRecords(t *testing.T) {
	at, text, ok := kernelLine("6,339,5140900,-;e1000: eth0 NIC Link is Up 1000 Mbps\n SUBSYSTEM=net\n")
	if !ok || at != 5140900*time.Microsecond || text != "e1000: eth0 NIC Link is Up 1000 Mbps" {
		t.Fatalf("got %v %q %v", at, text, ok)
	}
	for _, bad := range []string{"", "no semicolon", "6,1;short head", "6,1,12x,-;bad time"} {
		if _, _, ok := kernelLine(bad); ok {
			t.Errorf("kernelLine(%q) accepted", bad)
		}
	}
}

// Lines written through the writer come out in order with wall times
// near now; a full log drops its oldest lines and says how many.
func TestConsoleLogKeepsOrderAndCountsDrops(t *testing.T) {
	c := NewConsoleLog()
	w := c.Writer("agent")
	fmt.Fprint(w, "first\nsec")
	fmt.Fprint(w, "ond\n")
	lines, dropped := c.batch(10)
	if len(lines) != 2 || lines[0].Text != "first" || lines[1].Text != "second" || dropped != 0 {
		t.Fatalf("lines %+v dropped %d", lines, dropped)
	}
	if d := time.Since(lines[0].Time); d < 0 || d > time.Minute || lines[0].Source != "agent" {
		t.Fatalf("line time %v (%v ago), source %q", lines[0].Time, d, lines[0].Source)
	}
	c.commit(len(lines))
	for i := range consoleLogCap + 5 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	lines, dropped = c.batch(consoleLogCap)
	if dropped != 5 || len(lines) != consoleLogCap || lines[0].Text != "line 5" {
		t.Fatalf("after overflow: %d lines from %q, %d dropped; want %d from \"line 5\", 5 dropped", len(lines), lines[0].Text, dropped, consoleLogCap)
	}
	c.commit(len(lines))
	fmt.Fprint(w, strings.Repeat("x", 3*4096))
	lines, _ = c.batch(10)
	if len(lines) != 1 || len(lines[0].Text) > 2048 {
		t.Fatalf("an endless line: %d lines, first %d bytes; want it cut to a line of at most 2048", len(lines), len(lines[0].Text))
	}
}

// Console lines said before the agent connects (the boot) reach the
// dispatcher once it is connected, and later lines follow.
func TestConsoleIsForwardedOnceConnected(t *testing.T) {
	console := NewConsoleLog()
	fmt.Fprintln(console.Writer("agent"), "said during boot")
	f := newFakeDispatcher(t)
	a := New(Config{
		CAPin: testCA().Pin(), Dispatcher: f.ln.Addr().String(), MAC: "52:54:00:00:00:01", BootID: "b", Cores: 1, WorkDir: t.TempDir(),
		Console: console, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	pc, _ := f.accept()
	expect[*protocol.Request](t, pc)
	first := expect[*protocol.Log](t, pc)
	if len(first.Lines) != 1 || first.Lines[0].Text != "said during boot" {
		t.Fatalf("first log message %+v", first)
	}
	fmt.Fprintln(console.Writer("kernel"), "said later")
	if later := expect[*protocol.Log](t, pc); len(later.Lines) != 1 || later.Lines[0].Text != "said later" {
		t.Fatalf("second log message %+v", later)
	}
}
