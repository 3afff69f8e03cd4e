package http2

import (
	"encoding/binary"
	"time"

	"github.com/podtap/podtap/sidecar/metrics"
)

// frame handles a frame whose whole payload is at hand.
func (c *Parser) frame(s *side, p []byte, ts time.Time) {
	h := s.fh
	switch h.typ {
	case frameHeaders:
		frag, ok := fragment(h, p, 0)
		if !ok {
			c.badFraming(s, h, ts)
			return
		}
		c.startBlock(s, h, 0, frag, ts)
	case framePushPromise:
		frag, ok := fragment(h, p, 4)
		if !ok {
			c.badFraming(s, h, ts)
			return
		}
		promised := binary.BigEndian.Uint32(frag[:4]) & 0x7fffffff
		c.startBlock(s, h, promised, frag[4:], ts)
	case frameContinuation:
		c.continuation(s, h, p, ts)
	case frameSettings:
		if h.flags&flagAck == 0 {
			c.settings(s, p)
		}
	case frameRSTStream:
		c.reset(h.stream, ts)
	case frameGoAway:
		if len(p) >= 8 {
			c.goAway(s, binary.BigEndian.Uint32(p)&0x7fffffff, ts)
		}
	}
}

// fragment strips a HEADERS or PUSH_PROMISE payload of its padding and
// priority fields; the fragment keeps extra leading bytes (the promised
// stream id) for the caller.
func fragment(h frameHeader, p []byte, extra int) ([]byte, bool) {
	pad := 0
	if h.flags&flagPadded != 0 {
		if len(p) < 1 {
			return nil, false
		}
		pad = int(p[0])
		p = p[1:]
	}
	if h.typ == frameHeaders && h.flags&flagPriority != 0 {
		if len(p) < 5 {
			return nil, false
		}
		p = p[5:]
	}
	if pad+extra > len(p) {
		return nil, false
	}
	return p[:len(p)-pad], true
}

func (c *Parser) badFraming(s *side, h frameHeader, ts time.Time) {
	metrics.ParseErrors.WithLabelValues("h2", "padding").Inc()
	s.lostReason = metrics.ReasonParseError
	c.lostBlockFrame(s, h, ts)
}

// startBlock begins a header block with a HEADERS or PUSH_PROMISE frame.
func (c *Parser) startBlock(s *side, h frameHeader, promised uint32, frag []byte, ts time.Time) {
	s.block = block{
		open:      true,
		stream:    h.stream,
		push:      h.typ == framePushPromise,
		promised:  promised,
		endStream: h.typ == frameHeaders && h.flags&flagEndStream != 0,
		buf:       s.block.buf[:0],
		ts:        ts,
	}
	if h.flags&flagEndHeaders != 0 {
		// The common case, a block in one frame, decodes in place.
		c.endBlock(s, frag, ts)
		return
	}
	c.appendFragment(s, frag)
}

func (c *Parser) appendFragment(s *side, frag []byte) {
	b := &s.block
	if b.lost != "" {
		return
	}
	if len(b.buf)+len(frag) > c.opts.MaxHeaderBytes {
		metrics.ParseErrors.WithLabelValues("h2", "header_too_large").Inc()
		b.lost = metrics.ReasonParseError
		b.buf = b.buf[:0]
		return
	}
	b.buf = append(b.buf, frag...)
}

func (c *Parser) continuation(s *side, h frameHeader, p []byte, ts time.Time) {
	if !s.block.open || s.block.stream != h.stream {
		// The block's first frame was lost (a resync landed here) or the
		// sender broke the rules: either way the table missed insertions.
		metrics.ParseErrors.WithLabelValues("h2", "continuation_unexpected").Inc()
		c.forgetTable(s)
		return
	}
	c.appendFragment(s, p)
	if h.flags&flagEndHeaders != 0 {
		c.endBlock(s, s.block.buf, ts)
	}
}

// endBlock decodes a complete header block and applies it to its stream.
func (c *Parser) endBlock(s *side, frag []byte, ts time.Time) {
	blk := &s.block
	blk.open = false
	if blk.lost != "" {
		c.forgetTable(s)
		c.lostHeaders(s, blk, blk.lost, ts)
		return
	}
	wasPartial := s.dec.partial
	fields, err := s.dec.decode(c.scratch[:0], frag)
	c.scratch = fields[:0]
	unknown := s.dec.takeUnknown()
	if unknown > 0 {
		label := "desync"
		if wasPartial {
			label = "late_join"
		}
		hpackUnknown.WithLabelValues(label).Add(float64(unknown))
	}
	if err != nil {
		metrics.ParseErrors.WithLabelValues("h2", "hpack").Inc()
		c.forgetTable(s)
		c.lostHeaders(s, blk, metrics.ReasonParseError, ts)
		return
	}
	size, unresolved := 0, false
	for i := range fields {
		size += int(fields[i].size())
		// An entry inserted with an unknown name stays unknown when
		// referenced later, so the fields say more than the count.
		unresolved = unresolved || fields[i].NameUnknown || fields[i].ValueUnknown
	}
	if size > c.opts.MaxHeaderBytes {
		metrics.ParseErrors.WithLabelValues("h2", "header_too_large").Inc()
		c.lostHeaders(s, blk, metrics.ReasonParseError, ts)
		return
	}
	c.headers(s, blk, fields, unresolved, ts)
}

// forgetTable restarts side s's HPACK table as joined late: insertions
// were missed.
func (c *Parser) forgetTable(s *side) {
	s.dec.reset(true)
	tableResets.Inc()
}

// loseBlock gives up an open block interrupted by another frame.
func (c *Parser) loseBlock(s *side) {
	blk := &s.block
	blk.open = false
	c.forgetTable(s)
	c.lostHeaders(s, blk, metrics.ReasonParseError, blk.ts)
}

// lostBlockFrame handles a header-block frame whose content is gone (cut
// by a gap, too large to keep, or malformed), with s.lostReason saying
// why. Its header still says which stream it was for and whether it ended
// the block and the stream.
func (c *Parser) lostBlockFrame(s *side, h frameHeader, ts time.Time) {
	reason := s.lostReason
	switch h.typ {
	case frameHeaders, framePushPromise:
		// A lost PUSH_PROMISE took its promised id with it: the pushed
		// stream's frames will be ignored.
		s.block = block{
			open:      true,
			stream:    h.stream,
			push:      h.typ == framePushPromise,
			endStream: h.typ == frameHeaders && h.flags&flagEndStream != 0,
			lost:      reason,
			buf:       s.block.buf[:0],
			ts:        ts,
		}
	case frameContinuation:
		if !s.block.open || s.block.stream != h.stream {
			c.forgetTable(s)
			return
		}
		if s.block.lost == "" {
			s.block.lost = reason
		}
	}
	if h.flags&flagEndHeaders != 0 {
		c.endBlock(s, nil, ts)
	}
}

// lostHeaders applies a header block that could not be read: the stream
// structure it carried (which stream, whether it ended) still counts.
func (c *Parser) lostHeaders(s *side, blk *block, reason string, ts time.Time) {
	if blk.stream == 0 || blk.push {
		return
	}
	st := c.streams[blk.stream]
	if st == nil && c.isClient(s) && !c.closed.has(blk.stream) && blk.stream > c.highest {
		// A new request whose headers are unreadable.
		c.newRequestSeen(blk.stream)
		st = c.open(blk.stream, ts)
		st.in.started = true
	} else if st == nil {
		st = c.streamFor(s, blk.stream, ts)
	}
	if st == nil {
		return
	}
	h := c.halfOf(s, st)
	h.started = true
	h.fail(reason)
	if blk.endStream {
		c.endHalf(s, st, ts)
	}
}

// newRequestSeen records a new client stream id: streams below it that
// were not seen may have started unseen.
func (c *Parser) newRequestSeen(id uint32) {
	if c.lostOpen {
		c.lostOpen = false
		c.lostMax = max(c.lostMax, id-1)
	}
	c.highest = max(c.highest, id)
}
