package sysinit

import "time"

const (
	firstRestartDelay = time.Second
	maxRestartDelay   = 30 * time.Second
	// An agent that ran this long was healthy: its end is not part of a
	// crash loop, so it is restarted quickly again.
	healthyRun = time.Minute
)

// restartDelay is how long to wait before restarting the agent, given the
// previous delay and how long the agent ran: 1 s, doubling on each quick
// failure up to 30 s.
func restartDelay(previous, ran time.Duration) time.Duration {
	if previous == 0 || ran >= healthyRun {
		return firstRestartDelay
	}
	return min(2*previous, maxRestartDelay)
}
