package agent

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// uptimeHandler adds the machine's uptime, in seconds since the kernel
// started, to every record. On a node the wall clock is wrong until the
// dispatcher's welcome sets it, and boot times (kernel start to agent
// registered, what `make bench-image` reports) are read off the console.
type uptimeHandler struct{ slog.Handler }

func (h uptimeHandler) Handle(ctx context.Context, r slog.Record) error {
	if up, err := uptime(); err == nil {
		r.AddAttrs(slog.String("uptime", strconv.FormatFloat(up.Seconds(), 'f', 3, 64)))
	}
	return h.Handler.Handle(ctx, r)
}

func (h uptimeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return uptimeHandler{h.Handler.WithAttrs(attrs)}
}

func (h uptimeHandler) WithGroup(name string) slog.Handler {
	return uptimeHandler{h.Handler.WithGroup(name)}
}

// uptime is CLOCK_BOOTTIME, the clock of /proc/uptime: it starts with the
// kernel and no clock step moves it.
func uptime() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, err
	}
	return time.Duration(ts.Nano()), nil
}
