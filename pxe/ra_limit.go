package pxe

import (
	"net/netip"
	"time"
)

// sourceLimiter allows one answer per source address per interval, so that
// a flood of solicitations, forged from many sources or not, cannot make us
// send more than max answers per interval. It remembers at most max
// sources; those not heard from for an interval are forgotten as it goes.
// It is not safe for concurrent use: one read loop owns it.
type sourceLimiter struct {
	interval time.Duration
	max      int
	answered map[netip.Addr]time.Time // when each source was last allowed
	swept    time.Time                // when answered was last rid of stale entries
}

func newSourceLimiter(interval time.Duration, max int) *sourceLimiter {
	return &sourceLimiter{interval: interval, max: max, answered: make(map[netip.Addr]time.Time)}
}

// allow reports whether src may be answered at now, and if so counts it.
func (l *sourceLimiter) allow(src netip.Addr, now time.Time) bool {
	// Sweeping is O(len): at most once an interval, so that a flood costs
	// O(1) a packet.
	if now.Sub(l.swept) >= l.interval {
		l.forgetBefore(now.Add(-l.interval))
		l.swept = now
	}
	last, known := l.answered[src]
	if known && now.Sub(last) < l.interval {
		return false
	}
	if !known && len(l.answered) >= l.max {
		// Full of sources answered within the last two intervals or so:
		// a flood. Newcomers wait for the next sweep.
		return false
	}
	l.answered[src] = now
	return true
}

func (l *sourceLimiter) forgetBefore(t time.Time) {
	for src, last := range l.answered {
		if !last.After(t) {
			delete(l.answered, src)
		}
	}
}
