package protocol

import "testing"

func TestNegotiatePicksTheHighestCommonVersion(t *testing.T) {
	for _, tc := range []struct {
		lowest, highest, want int
		ok                    bool
	}{
		{0, Version, Version, true},              // a peer of this build
		{MinVersion, Version + 5, Version, true}, // a newer peer that still speaks ours
		{0, Version + 1, 0, false},               // a newer peer that speaks only its own
		{Version + 1, Version + 3, 0, false},     // a peer that dropped ours
		{0, MinVersion - 1, 0, false},            // an older peer we dropped
		{MinVersion - 1, Version, Version, true}, // an older peer that learned ours
	} {
		got, err := Negotiate(tc.lowest, tc.highest)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("Negotiate(%d, %d) = %d, %v; want %d", tc.lowest, tc.highest, got, err, tc.want)
		}
		if !tc.ok && err == nil {
			t.Errorf("Negotiate(%d, %d) = %d; want no common version", tc.lowest, tc.highest, got)
		}
	}
}
