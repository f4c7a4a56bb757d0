package agent

import (
	"time"

	"golang.org/x/sys/unix"
)

// clockTolerance is how far a node's clock may be off the dispatcher's
// before the agent sets it. Nodes have no RTC they can trust and no NTP:
// the dispatcher's clock is the cluster's.
const clockTolerance = time.Second

// clockOffset estimates how far the dispatcher's clock is ahead of this
// node's. The dispatcher read its clock, server, while answering the
// hello sent at sent, whose answer arrived at received (this node's
// clock). Taking that read to be halfway through the exchange makes the
// estimate wrong by at most half the round trip.
func clockOffset(sent, received, server time.Time) time.Duration {
	// server has no monotonic reading, so Sub compares wall clocks.
	return server.Sub(sent.Add(received.Sub(sent) / 2))
}

// stepClock moves the system clock by offset. Go's timers and durations
// run on the monotonic clock and do not jump with it.
func stepClock(offset time.Duration) error {
	ts := unix.NsecToTimespec(time.Now().Add(offset).UnixNano())
	return unix.ClockSettime(unix.CLOCK_REALTIME, &ts)
}

// syncClock sets the node's clock from the dispatcher's, if the agent
// may and the two differ by more than clockTolerance.
func (a *Agent) syncClock(sent, received, server time.Time) {
	if a.cfg.SetClock == nil || server.IsZero() {
		return
	}
	offset := clockOffset(sent, received, server)
	if offset.Abs() <= clockTolerance {
		return
	}
	if err := a.cfg.SetClock(offset); err != nil {
		a.log.Warn("setting the clock from the dispatcher", "off_by", offset, "err", err)
		return
	}
	a.log.Info("clock set from the dispatcher", "step", offset.Round(time.Millisecond), "round_trip", received.Sub(sent).Round(time.Microsecond))
}
