package http1

import (
	"time"

	"github.com/podtap/podtap/sidecar/metrics"
)

// gap accounts for n bytes lost from this side (n<0: unknown). Inside
// a body of known size the parser skips exactly n and stays in sync; the
// message is dropped as cut by the gap. Anywhere else it resyncs.
func (s *side) gap(n int, ts time.Time) {
	switch s.st {
	case stBody, stChunkData:
		if n < 0 || int64(n) > s.remaining {
			s.cut(n)
			return
		}
		s.lose(n)
		s.lastTS = ts
		if s.remaining -= int64(n); s.remaining > 0 {
			return
		}
		if s.st == stChunkData {
			s.st = stChunkEnd
			return
		}
		s.complete(ts)
	case stClose:
		s.lose(n)
	case stHead:
		if s.started {
			s.abandon(metrics.ReasonGap, s.lastTS)
		}
		s.lostSync()
	case stChunkSize, stChunkEnd, stTrailers:
		s.cut(n)
	case stResync:
		s.lostSync()
	case stAwait:
		s.awaitLost, s.buf = true, nil
	}
}

// cut hands on a message that a gap ended, then resyncs.
func (s *side) cut(n int) {
	// Only the bytes up to the message's end were its own.
	s.lose(int(min(int64(max(n, 0)), s.remaining)))
	s.abandon(metrics.ReasonGap, s.lastTS)
	s.lostSync()
}

// close ends the side: a close-delimited body is complete, any other
// message in progress is handed on as cut.
func (s *side) close() {
	switch s.st {
	case stClose:
		s.complete(s.lastTS)
	case stBody, stChunkSize, stChunkData, stChunkEnd, stTrailers:
		s.lose(-1)
		s.abandon(metrics.ReasonGap, s.lastTS)
	case stHead:
		if s.started {
			s.abandon(metrics.ReasonGap, s.lastTS)
		}
	}
	s.st = stDone
}
