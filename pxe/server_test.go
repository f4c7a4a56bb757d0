package pxe

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRunFailsAtOnceWhenAListenerCannotStart(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.Interface = "rfpxe-none0" })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "rfpxe-none0") {
		t.Fatalf("Run on a missing interface: %v, want an error naming it", err)
	}
	if ctx.Err() != nil {
		t.Error("Run waited for the context instead of failing at once")
	}
}
