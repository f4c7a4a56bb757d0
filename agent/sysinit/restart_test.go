package sysinit

import (
	"testing"
	"time"
)

func TestRestartDelay(t *testing.T) {
	const s = time.Second
	tests := []struct {
		previous, ran, want time.Duration
	}{
		{0, 0, 1 * s},                    // first failure
		{1 * s, 2 * s, 2 * s},            // crash loop: doubling
		{2 * s, 0, 4 * s},                //
		{16 * s, 5 * s, 30 * s},          // capped
		{30 * s, 5 * s, 30 * s},          //
		{30 * s, 2 * time.Minute, 1 * s}, // after a healthy run: quick again
		{8 * s, time.Minute, 1 * s},      //
	}
	for _, tt := range tests {
		if got := restartDelay(tt.previous, tt.ran); got != tt.want {
			t.Errorf("restartDelay(%v, %v) = %v, want %v", tt.previous, tt.ran, got, tt.want)
		}
	}
}
