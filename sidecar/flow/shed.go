package flow

import (
	"log/slog"
	"time"
)

const (
	// shedWarnEvery rate-limits the WARN lines while connections are shed.
	shedWarnEvery = time.Minute
	// shedQuiet is how long no connection may be shed before shedding is
	// reported over.
	shedQuiet = 10 * time.Second
)

// shedLog reports the connections shed: a WARN when shedding
// starts, at most one more per shedWarnEvery while it goes on, and an INFO
// with the count once none has been refused for shedQuiet. Only the
// reader's goroutine uses it, at each tick.
type shedLog struct {
	limit  int
	reason string
	// seen is the shed count at the previous tick; first that when the
	// episode began.
	seen, first int64
	shedding    bool
	began, last time.Time // the episode's start, and its latest shed connection
	warned      time.Time
}

// tick takes the count of connections shed so far and whether memory is
// short now.
func (l *shedLog) tick(now time.Time, total int64, pressed bool) {
	switch {
	case total > l.seen && !l.shedding:
		l.shedding, l.first, l.began, l.warned = true, l.seen, now, now
		slog.Warn("shedding connections: the connection cap is reached or memory is short; the connections silent the longest go first",
			"cap", l.limit, "set_by", l.reason, "memory_pressure", pressed)
	case total > l.seen && now.Sub(l.warned) >= shedWarnEvery:
		l.warned = now
		slog.Warn("still shedding connections",
			"cap", l.limit, "set_by", l.reason, "memory_pressure", pressed, "shed", total-l.first, "for", now.Sub(l.began).Round(time.Second))
	case total == l.seen && l.shedding && now.Sub(l.last) >= shedQuiet:
		l.shedding = false
		slog.Info("no longer shedding connections",
			"cap", l.limit, "set_by", l.reason, "shed", total-l.first, "for", l.last.Sub(l.began).Round(time.Second))
	}
	if total > l.seen {
		l.last = now
	}
	l.seen = total
}
