package agent

import (
	"context"
	"testing"
	"time"

	"github.com/ramfarm/ramfarm/protocol"
)

func TestClockOffset(t *testing.T) {
	sent := time.Now() // with a monotonic reading, as in the agent
	ms := time.Millisecond
	tests := []struct {
		name             string
		roundTrip, ahead time.Duration // the server's clock reads ahead of ours by ahead
		serverDelay      time.Duration // when in the round trip the server read its clock
		want             time.Duration
	}{
		{"same clocks, read halfway", 100 * ms, 0, 50 * ms, 0},
		{"an hour ahead", 100 * ms, time.Hour, 50 * ms, time.Hour},
		{"a day behind", 100 * ms, -24 * time.Hour, 50 * ms, -24 * time.Hour},
		// Off by at most half the round trip, whenever the server read.
		{"read at once", 2 * time.Second, time.Hour, 0, time.Hour - time.Second},
		{"read at the end", 2 * time.Second, time.Hour, 2 * time.Second, time.Hour + time.Second},
	}
	for _, tt := range tests {
		received := sent.Add(tt.roundTrip)
		// The server's time comes off the wire: no monotonic reading.
		server := sent.Add(tt.serverDelay + tt.ahead).UTC().Round(0)
		if got := clockOffset(sent, received, server); got != tt.want {
			t.Errorf("%s: clockOffset = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestAgentSetsClockFromWelcome checks when the agent steps the clock:
// only when off by more than a second, and not for a dispatcher that
// sends no time.
func TestAgentSetsClockFromWelcome(t *testing.T) {
	for _, tt := range []struct {
		name  string
		ahead time.Duration
		set   bool
	}{
		{"an hour ahead", time.Hour, true},
		{"a minute behind", -time.Minute, true},
		{"within a second", 300 * time.Millisecond, false},
		{"no server time", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeDispatcher(t)
			offsets := make(chan time.Duration, 1)
			a := New(Config{
				CAPin: testCA().Pin(), Dispatcher: f.ln.Addr().String(), MAC: "52:54:00:00:00:01", BootID: "b", Cores: 1, WorkDir: t.TempDir(),
				Logger:   quietLog,
				SetClock: func(offset time.Duration) error { offsets <- offset; return nil },
			})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { a.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()

			pc := protocol.NewConn(<-f.conns)
			expect[*protocol.Hello](t, pc)
			welcome := &protocol.Welcome{Version: 1, Node: "n", Heartbeat: protocol.Duration(time.Second)}
			if tt.name != "no server time" {
				welcome.ServerTime = time.Now().Add(tt.ahead).UTC()
			}
			pc.Send(welcome)
			expect[*protocol.Request](t, pc) // the agent is past syncClock
			select {
			case offset := <-offsets:
				if !tt.set {
					t.Fatalf("clock stepped by %v, want it left alone", offset)
				}
				if diff := (offset - tt.ahead).Abs(); diff > 500*time.Millisecond {
					t.Fatalf("clock stepped by %v, want about %v", offset, tt.ahead)
				}
			default:
				if tt.set {
					t.Fatal("clock not stepped")
				}
			}
		})
	}
}

// TestStepClock steps the clock of a test guest: never the host's.
func TestStepClock(t *testing.T) {
	requireRoot(t)
	if !inGuest() {
		runInGuest(t, "^TestStepClock$")
		return
	}
	before := time.Now()
	if err := stepClock(time.Hour); err != nil {
		t.Fatalf("stepClock: %v", err)
	}
	defer stepClock(-time.Hour)
	if moved := time.Now().Round(0).Sub(before.Round(0)); moved < time.Hour || moved > time.Hour+10*time.Second {
		t.Fatalf("the clock moved by %v, want an hour", moved)
	}
}
