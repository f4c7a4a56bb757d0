package protocol

import "fmt"

// Versions. Each side speaks a range of versions, MinVersion to Version;
// at hello the agent states its range and the dispatcher picks the highest
// version in both, or refuses. A change that only adds optional fields or
// command ops needs no new version (unknown fields are ignored, unknown
// ops are logged and skipped); a change that alters the meaning of existing
// ones does, and MinVersion moves up only when the old meaning is dropped.
const (
	Version    = 1 // the newest version this package speaks
	MinVersion = 1 // the oldest
)

// Negotiate returns the version a peer speaking lowest..highest and this
// package will use: the highest both speak. lowest 0 means highest (a peer
// that states one version).
func Negotiate(lowest, highest int) (int, error) {
	if lowest == 0 {
		lowest = highest
	}
	v := min(highest, Version)
	if v < max(lowest, MinVersion) {
		return 0, fmt.Errorf("no protocol version in common: the peer speaks %d..%d, we speak %d..%d", lowest, highest, MinVersion, Version)
	}
	return v, nil
}
