package capture

import (
	"log/slog"
	"time"

	"github.com/podtap/podtap/sidecar/statelog"
)

// ReasonRingFull is why the kernel drops packets: the reader did not empty
// the AF_PACKET ring in time.
const ReasonRingFull = "ring_full"

// DropWatch turns the kernel's drop counter, polled at a steady interval,
// into log lines: a WARN when drops start, reminders at most once a minute
// while they go on, and an INFO once a whole interval passes without one.
// The counter alone is in metrics, where nobody looks first.
type DropWatch struct {
	state           *statelog.State
	reason, setting string
	now             func() time.Time
	last            Stats
	at              time.Time // of last
}

// dropCauser is a source whose kernel drops have another cause than a
// full AF_PACKET ring.
type dropCauser interface {
	dropCause() (reason, setting string)
}

// NewDropWatch watches src's drops and logs to log, slog.Default() when nil.
func NewDropWatch(log *slog.Logger, src Source) *DropWatch {
	w := newDropWatch(log, time.Now)
	if c, ok := src.(dropCauser); ok {
		w.reason, w.setting = c.dropCause()
	}
	return w
}

func newDropWatch(log *slog.Logger, now func() time.Time) *DropWatch {
	return &DropWatch{
		reason:  ReasonRingFull,
		setting: "capture.ring_bytes",
		state: statelog.New(statelog.Config{
			Log:       log,
			Degraded:  "kernel dropping packets",
			Recovered: "kernel drops stopped",
			Now:       now,
		}),
		now: now,
		at:  now(),
	}
}

// Observe takes the source's counters, read once per polling interval.
func (w *DropWatch) Observe(s Stats) {
	now := w.now()
	drops, packets := since(s.Drops, w.last.Drops), since(s.Packets, w.last.Packets)
	elapsed := now.Sub(w.at)
	w.last, w.at = s, now
	if drops == 0 {
		w.state.Recover("total_drops", s.Drops)
		return
	}
	args := []any{"dropped", drops, "of_packets", packets, "interval", elapsed.Round(time.Millisecond)}
	if elapsed > 0 {
		args = append(args, "per_second", int64(float64(drops)/elapsed.Seconds()))
	}
	w.state.DegradeLost(w.reason, w.reason, int(drops), append(args, "setting", w.setting)...)
}

// since is the growth of a counter; one that went back (a new socket)
// counts from zero.
func since(cur, prev uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}
