package flow

import (
	"testing"
	"time"
)

// TestFlushDue checks when a tick flushes reassembly in full: only when a
// segment buffered out of order may be due, when a tracked connection has
// been silent for the idle timeout, or at the sweep; never merely because
// connections are open.
func TestFlushDue(t *testing.T) {
	cfg := testConfig()
	cfg.FlushInterval, cfg.IdleTimeout = time.Second, 2*time.Minute
	sweep := cfg.IdleTimeout / sweepDivisor
	w := newWorker(New(cfg, 1, discards{}), 1)
	start := t0
	idle := &tracked{last: start.UnixNano()}
	w.lru.touch(idle)
	flushAt := func(now time.Time) {
		w.clock = now
		w.flushedTo, w.swept = now.Add(-cfg.FlushInterval), now
	}
	flushAt(start)

	steps := []struct {
		name  string
		setup func()
		at    time.Time
		want  bool
	}{
		{"open idle connection, nothing buffered", nil, start.Add(time.Second), false},
		{"segment buffered ahead", func() { w.lastAhead = start.Add(1500 * time.Millisecond) }, start.Add(2 * time.Second), true},
		{"still not past the last flush's time", func() { flushAt(start.Add(2 * time.Second)) }, start.Add(3 * time.Second), true},
		{"flushed past it", func() { flushAt(start.Add(3 * time.Second)) }, start.Add(4 * time.Second), false},
		{"sweep due", nil, start.Add(3*time.Second + sweep), true},
		{"swept", func() { flushAt(start.Add(3*time.Second + sweep)) }, start.Add(4*time.Second + sweep), false},
		{"connection silent for the idle timeout", func() { flushAt(start.Add(cfg.IdleTimeout)) }, start.Add(cfg.IdleTimeout + time.Second), true},
		{"it sent a packet", func() { idle.last = start.Add(cfg.IdleTimeout).UnixNano() }, start.Add(cfg.IdleTimeout + time.Second), false},
	}
	for _, s := range steps {
		if s.setup != nil {
			s.setup()
		}
		w.clock = s.at
		if got := w.flushDue(); got != s.want {
			t.Errorf("%s: flushDue at +%v = %v, want %v", s.name, s.at.Sub(start), got, s.want)
		}
	}
}
