package agent

import (
	"bytes"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ramfarm/ramfarm/protocol"
)

// ConsoleLog collects what the node says on its console (kernel messages,
// the agent's own log) for forwarding to the dispatcher, which keeps it: a
// node has no disk, and a crashed node's last words are the ones an admin
// wants.
//
// It holds at most consoleLogCap lines. While the agent has no connection
// the oldest lines give way and are counted, so a node that never reaches
// its dispatcher cannot run out of memory by logging.
type ConsoleLog struct {
	mu      sync.Mutex
	lines   []pendingLine
	dropped int
	notify  chan struct{} // a token when lines arrive; drained by the sender
}

const consoleLogCap = 4096

// pendingLine keeps the boot clock of a line rather than the wall clock:
// the agent steps the node's clock once it reaches the dispatcher, and the
// lines logged before that (the whole boot) would otherwise carry the
// hardware clock's idea of the time. The wall time is worked out when the
// line is sent.
type pendingLine struct {
	boot   time.Duration // CLOCK_BOOTTIME when the line was said
	source string
	text   string
}

// NewConsoleLog returns an empty console log.
func NewConsoleLog() *ConsoleLog {
	return &ConsoleLog{notify: make(chan struct{}, 1)}
}

// add keeps one line said at boot-clock time at.
func (c *ConsoleLog) add(at time.Duration, source, text string) {
	if len(text) > protocol.MaxLogLineLen {
		text = text[:protocol.MaxLogLineLen]
	}
	c.mu.Lock()
	if len(c.lines) == consoleLogCap {
		c.lines = c.lines[1:]
		c.dropped++
	}
	c.lines = append(c.lines, pendingLine{boot: at, source: source, text: text})
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// Writer returns a writer whose every line becomes a console line from
// source: give it, beside the console itself, to the agent's log handler.
func (c *ConsoleLog) Writer(source string) *lineWriter {
	return &lineWriter{log: c, source: source}
}

// lineWriter splits what is written into lines. slog handlers write one
// whole record per Write, so a partial line is rare; it waits for its end.
type lineWriter struct {
	mu      sync.Mutex
	log     *ConsoleLog
	source  string
	partial []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.log.add(bootClock(), w.source, string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	if len(w.partial) > protocol.MaxLogLineLen { // a line without end: cut it
		w.log.add(bootClock(), w.source, string(w.partial))
		w.partial = nil
	}
	return len(p), nil
}

// batch returns up to max lines, oldest first, as protocol lines with wall
// times, and the count of lines dropped before them. They stay in the log
// until commit(n) says they were sent.
func (c *ConsoleLog) batch(max int) (lines []protocol.LogLine, dropped int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := min(len(c.lines), max)
	if n == 0 && c.dropped == 0 {
		return nil, 0
	}
	// Wall time of a boot-clock instant, by the clock as it is now.
	now, boot := time.Now(), bootClock()
	lines = make([]protocol.LogLine, n)
	for i, l := range c.lines[:n] {
		lines[i] = protocol.LogLine{Time: now.Add(l.boot - boot).UTC(), Source: l.source, Text: l.text}
	}
	return lines, c.dropped
}

// commit forgets the first n lines and the dropped count, once sent.
func (c *ConsoleLog) commit(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = c.lines[min(n, len(c.lines)):]
	if len(c.lines) == 0 {
		c.lines = nil // let a burst's array go
	}
	c.dropped = 0
}

// forward sends the log to pc as lines come, in batches at most every
// interval, until done is closed or a send fails (the session then ends
// and the next one goes on where this one stopped).
func (c *ConsoleLog) forward(pc *protocol.Conn, interval time.Duration, done <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		for {
			lines, dropped := c.batch(protocol.MaxLogLines)
			if len(lines) == 0 && dropped == 0 {
				break
			}
			if pc.Send(&protocol.Log{Lines: lines, Dropped: dropped}) != nil {
				return
			}
			c.commit(len(lines))
		}
		select {
		case <-done:
			return
		case <-c.notify:
		}
		select { // gather what comes within the interval into one message
		case <-done:
			return
		case <-tick.C:
		}
	}
}

// bootClock reads CLOCK_BOOTTIME, which counts from boot, suspend included,
// and never jumps.
func bootClock() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// kernelLine parses one /dev/kmsg record, "prio,seq,usec,flags;text",
// into its boot-clock time and text. Continuation lines (" KEY=value")
// after the text are dropped.
func kernelLine(record string) (at time.Duration, text string, ok bool) {
	head, text, ok := strings.Cut(record, ";")
	if !ok {
		return 0, "", false
	}
	fields := strings.Split(head, ",")
	if len(fields) < 3 {
		return 0, "", false
	}
	var usec int64
	for _, ch := range fields[2] {
		if ch < '0' || ch > '9' {
			return 0, "", false
		}
		usec = usec*10 + int64(ch-'0')
	}
	text, _, _ = strings.Cut(text, "\n")
	return time.Duration(usec) * time.Microsecond, text, true
}
