package flow

import (
	"time"

	"github.com/podtap/podtap/sidecar/statelog"
)

// shedQuiet is how long no connection may be shed before shedding is
// reported over.
const shedQuiet = 10 * time.Second

// shedLog reports the connections shed through a statelog.State: a WARN
// when shedding starts, reminders while it goes on, and an INFO with the
// count once none has been shed for shedQuiet. Only the reader's goroutine
// uses it, at each tick, on the capture's clock.
type shedLog struct {
	limit  int
	reason string
	state  *statelog.State
	seen   int64     // the shed count at the previous tick
	last   time.Time // when the latest connection was shed
}

func newShedLog(limit int, reason string, now func() time.Time) shedLog {
	return shedLog{limit: limit, reason: reason, state: statelog.New(statelog.Config{
		Degraded:  "shedding connections: the connection cap is reached or memory is short; the connections silent the longest go first",
		Recovered: "no longer shedding connections",
		Now:       now,
	})}
}

// tick takes the count of connections shed so far and whether memory is
// short now.
func (l *shedLog) tick(now time.Time, total int64, pressed bool) {
	cause := "connection_cap"
	if pressed {
		cause = "memory_pressure"
	}
	switch {
	case total > l.seen:
		l.last = now
		l.state.DegradeLost(cause, "shed", int(total-l.seen), "cap", l.limit, "set_by", l.reason)
	case l.state.Degraded() && now.Sub(l.last) >= shedQuiet:
		l.state.Recover("cap", l.limit, "set_by", l.reason)
	}
	l.seen = total
}
