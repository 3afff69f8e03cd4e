package http2

import (
	"time"

	"github.com/podtap/podtap/sidecar/metrics"
)

// Gap reports n bytes lost on one side before the next Feed (n < 0
// when unknown). A gap inside the current frame only cuts that frame;
// a longer one leaves the frame boundaries and the HPACK table unknown,
// so the reader searches for the next boundary and the table restarts as
// joined late.
func (c *Parser) Gap(fromClient bool, n int, ts time.Time) {
	s := c.sides[sideIndex(fromClient)]
	if n == 0 {
		return
	}
	switch s.state {
	case stStart:
		s.start = nil
		c.joinLate(s, "gap")
		return
	case stResync:
		resyncSkipped.Add(float64(len(s.resync)))
		s.resync = s.resync[:0]
		return
	case stData, stDataPad, stPayload, stSkip:
		if n > 0 && n <= s.left {
			c.gapInFrame(s, n, ts)
			return
		}
	}
	lateJoins.WithLabelValues("gap").Inc()
	c.lose(s, metrics.ReasonGap, ts)
	s.state = stResync
	s.resync = s.resync[:0]
}

// gapInFrame skips n lost bytes that end within the current frame, whose
// end stays a known boundary.
func (c *Parser) gapInFrame(s *side, n int, ts time.Time) {
	switch s.state {
	case stData:
		if s.data != nil && s.left-s.padLeft > 0 {
			c.halfOf(s, s.data).fail(metrics.ReasonGap)
		}
	case stDataPad:
		// The pad length is lost, so where the data ends is unknown.
		if s.data != nil {
			c.halfOf(s, s.data).fail(metrics.ReasonGap)
		}
		s.data = nil
		s.state = stSkip
	case stPayload:
		s.lostReason = metrics.ReasonGap
		s.payload = s.payload[:0]
		s.state = stSkip
	}
	s.left -= n
	switch {
	case s.left == 0:
		c.endFrame(s, ts)
	case s.state == stData && s.left <= s.padLeft:
		s.padLeft = s.left
		s.state = stSkip
	}
}

// lose handles bytes of side s lost across frame boundaries: the messages
// it was sending are cut, its header block and HPACK table are unknown,
// and new streams may have started unseen.
func (c *Parser) lose(s *side, reason string, ts time.Time) {
	if s.block.open {
		s.block.open = false
		c.lostHeaders(s, &s.block, reason, s.block.ts)
	}
	c.forgetTable(s)
	client := c.isClient(s)
	for _, st := range c.streams {
		// A request not seen yet may be in the lost bytes; a response not
		// begun shows its loss later, by DATA without headers.
		if h := c.halfOf(s, st); !h.done && (h.started || client) {
			h.fail(reason)
			h.started = true
		}
	}
	for _, st := range c.streams {
		c.maybeEmit(st, ts)
	}
	s.data = nil
	s.hdrN = 0
	s.payload = s.payload[:0]
	if c.isClient(s) {
		c.markLate()
	}
}

// joinLate starts side s without its beginning: frames are searched for,
// and the HPACK table holds only what is inserted from now on.
func (c *Parser) joinLate(s *side, cause string) {
	lateJoins.WithLabelValues(cause).Inc()
	c.markLate()
	s.begin(true)
}

// readResync buffers bytes of unknown alignment until a frame boundary is
// found, then parses from there. Bytes that cannot hold a boundary are
// dropped as they are ruled out, so the buffer stays about one frame long.
func (c *Parser) readResync(s *side, b []byte, ts time.Time) {
	s.resync = append(s.resync, b...)
	at, found := findBoundary(s.resync, resyncMaxFrame, true)
	resyncSkipped.Add(float64(at))
	if found {
		pending := s.resync[at:]
		s.resync = nil
		s.state = stHeader
		c.feed(s, pending, ts)
		return
	}
	n := copy(s.resync, s.resync[at:])
	s.resync = s.resync[:n]
}

// exactChain finds the first offset from which plausible frames run
// exactly to the end of b.
func exactChain(b []byte, maxLen uint32) (int, bool) {
	for p := 0; p+frameHeaderLen <= len(b); p++ {
		if _, end := chain(b[p:], maxLen); p+end == len(b) {
			return p, true
		}
	}
	return 0, false
}
