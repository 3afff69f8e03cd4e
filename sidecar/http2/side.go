package http2

import (
	"time"

	"github.com/podtap/podtap/sidecar/metrics"
)

// readState is where a side's reader is within the frame sequence.
type readState uint8

const (
	stStart   readState = iota // before the first byte: preface or not
	stHeader                   // reading a 9-byte frame header
	stPayload                  // buffering a non-DATA payload
	stDataPad                  // reading a padded DATA frame's pad length
	stData                     // passing DATA bytes to their stream
	stSkip                     // skipping bytes up to the end of the frame
	stResync                   // looking for a frame boundary
)

// resyncMaxFrame is the largest frame a boundary search accepts: senders
// keep to the default frame size almost always, and a tight bound keeps
// false boundaries in random payload bytes rare.
const resyncMaxFrame = defaultMaxFrame

// side is the reader of one side.
type side struct {
	idx   int
	state readState
	dec   *decoder
	// maxFrame is the largest frame this side may send: the other side's
	// SETTINGS_MAX_FRAME_SIZE.
	maxFrame uint32
	// start buffers the first bytes until the preface is told apart;
	// prefaced records that it was.
	start    []byte
	prefaced bool
	hdr      [frameHeaderLen]byte
	hdrN     int
	fh       frameHeader
	// left is what remains of the current frame's payload, padLeft the
	// padding at its end.
	left, padLeft int
	// lostReason says why the current frame's content is gone (cut by a
	// gap, or too large to keep); "" while it is intact.
	lostReason string
	payload    []byte
	data       *stream
	block      block
	resync     []byte
}

// block is a header block being assembled from HEADERS or PUSH_PROMISE and
// its CONTINUATION frames.
type block struct {
	open   bool
	stream uint32
	// push marks a PUSH_PROMISE block, promising stream promised.
	push      bool
	promised  uint32
	endStream bool
	// lost says why the block cannot be decoded; its frames are still
	// followed to its end.
	lost string
	buf  []byte
	ts   time.Time
}

func newSide(idx int) *side {
	s := &side{idx: idx, dec: newDecoder(false), maxFrame: defaultMaxFrame}
	return s
}

// begin starts frame parsing, knowing (late false) or not (late true)
// that the side starts at its beginning.
func (s *side) begin(late bool) {
	s.dec.reset(late)
	s.block = block{buf: s.block.buf[:0]}
	if late {
		s.maxFrame = maxFrameLimit
		s.state = stResync
		return
	}
	s.state = stHeader
}

func (c *Parser) feed(s *side, b []byte, ts time.Time) {
	for len(b) > 0 {
		var n int
		switch s.state {
		case stStart:
			n = c.readStart(s, b, ts)
		case stHeader:
			n = c.readHeader(s, b, ts)
		case stPayload:
			n = c.readPayload(s, b, ts)
		case stDataPad:
			n = c.readPadLength(s, b, ts)
		case stData:
			n = c.readData(s, b, ts)
		case stSkip:
			n = min(s.left, len(b))
			s.left -= n
			if s.left == 0 {
				c.endFrame(s, ts)
			}
		case stResync:
			c.readResync(s, b, ts)
			return
		}
		b = b[n:]
	}
}

// readStart tells the client preface apart from anything else at the
// start of a side. Without the preface the capture joined late,
// except on the server side, whose first frame is SETTINGS when the
// connection is new.
func (c *Parser) readStart(s *side, b []byte, ts time.Time) int {
	have := len(s.start)
	n := min(len(preface)-have, len(b))
	if string(b[:n]) == preface[have:have+n] {
		s.start = append(s.start, b[:n]...)
		if len(s.start) == len(preface) {
			s.start = nil
			s.prefaced = true
			c.setRole(s, true)
			s.begin(false)
		}
		return n
	}
	if have+len(b) < frameHeaderLen && !c.peer(s).prefaced {
		// Too few bytes to tell a SETTINGS frame yet.
		s.start = append(s.start, b...)
		return len(b)
	}
	pending := append(s.start, b...)
	s.start = nil
	fresh := c.peer(s).prefaced ||
		(len(pending) >= frameHeaderLen && isServerPreface(parseFrameHeader(pending)))
	if fresh {
		s.begin(false)
	} else {
		c.joinLate(s, "start")
	}
	c.feed(s, pending, ts)
	return len(b)
}

func isServerPreface(h frameHeader) bool {
	return h.typ == frameSettings && h.flags&flagAck == 0 && h.plausible(defaultMaxFrame)
}

func (c *Parser) readHeader(s *side, b []byte, ts time.Time) int {
	var raw []byte
	n := 0
	if s.hdrN == 0 && len(b) >= frameHeaderLen {
		raw = b[:frameHeaderLen]
		n = frameHeaderLen
	} else {
		n = copy(s.hdr[s.hdrN:], b)
		s.hdrN += n
		if s.hdrN < frameHeaderLen {
			return n
		}
		s.hdrN = 0
		raw = s.hdr[:]
	}
	h := parseFrameHeader(raw)
	if !h.valid(s.maxFrame) {
		metrics.ParseErrors.WithLabelValues("h2", "frame_header").Inc()
		c.lose(s, metrics.ReasonParseError, ts)
		// The bad header may start garbage or follow a false boundary:
		// search again from its second byte.
		s.state = stResync
		s.resync = append(s.resync[:0], raw[1:]...)
		return n
	}
	c.beginFrame(s, h, ts)
	return n
}

func (c *Parser) beginFrame(s *side, h frameHeader, ts time.Time) {
	s.fh = h
	s.left = int(h.length)
	s.padLeft = 0
	s.lostReason = ""
	s.data = nil
	if s.block.open && h.typ != frameContinuation {
		// RFC 9113 §6.10: nothing may interleave a header block.
		metrics.ParseErrors.WithLabelValues("h2", "continuation_expected").Inc()
		c.loseBlock(s)
	}
	switch h.typ {
	case frameData:
		s.data = c.streamFor(s, h.stream, ts)
		if s.data != nil && !c.halfOf(s, s.data).started {
			// DATA before the message's headers: the headers were lost.
			c.halfOf(s, s.data).fail(metrics.ReasonGap)
		}
		if h.flags&flagPadded != 0 {
			s.state = stDataPad
		} else {
			s.state = stData
		}
	case frameHeaders, framePushPromise, frameContinuation:
		if h.length > uint32(c.opts.MaxHeaderBytes+maxBlockFraming) {
			// Too big to keep: skipped, and endFrame handles the block
			// as lost.
			metrics.ParseErrors.WithLabelValues("h2", "header_too_large").Inc()
			s.lostReason = metrics.ReasonParseError
			s.state = stSkip
		} else {
			s.state = stPayload
		}
	case frameSettings, frameRSTStream, frameGoAway:
		s.state = stPayload
		if h.length > maxControlPayload {
			s.state = stSkip
		}
	default:
		// PING, PRIORITY, WINDOW_UPDATE and unknown types carry nothing a
		// pair needs.
		s.state = stSkip
	}
	if s.left == 0 {
		c.endFrame(s, ts)
	}
}

const (
	// maxBlockFraming is the most a header-block frame adds around its
	// fragment: pad length, padding, priority and promised stream id.
	maxBlockFraming = 1 + 255 + 5 + 4
	// maxControlPayload bounds SETTINGS, RST_STREAM and GOAWAY payloads
	// kept; GOAWAY's debug data may be longer and is then not read.
	maxControlPayload = 1 << 12
)

func (c *Parser) readPayload(s *side, b []byte, ts time.Time) int {
	if len(s.payload) == 0 && len(b) >= s.left {
		// The whole payload is here: use it in place.
		n := s.left
		s.left = 0
		c.frame(s, b[:n], ts)
		s.state = stHeader
		return n
	}
	n := min(s.left, len(b))
	s.payload = append(s.payload, b[:n]...)
	s.left -= n
	if s.left == 0 {
		p := s.payload
		s.payload = s.payload[:0]
		c.frame(s, p, ts)
		s.state = stHeader
	}
	return n
}

func (c *Parser) readPadLength(s *side, b []byte, ts time.Time) int {
	pad := int(b[0])
	s.left--
	if pad > s.left {
		metrics.ParseErrors.WithLabelValues("h2", "padding").Inc()
		if s.data != nil {
			c.halfOf(s, s.data).fail(metrics.ReasonParseError)
		}
		pad = s.left
	}
	s.padLeft = pad
	switch {
	case s.left == 0:
		c.endFrame(s, ts)
	case s.left == s.padLeft:
		s.state = stSkip
	default:
		s.state = stData
	}
	return 1
}

func (c *Parser) readData(s *side, b []byte, ts time.Time) int {
	n := min(s.left-s.padLeft, len(b))
	if s.data != nil && n > 0 {
		c.data(s, s.data, b[:n])
	}
	s.left -= n
	if s.left == 0 {
		c.endFrame(s, ts)
	} else if s.left == s.padLeft {
		s.state = stSkip
	}
	return n
}

// endFrame completes a frame whose payload was streamed or skipped.
func (c *Parser) endFrame(s *side, ts time.Time) {
	h := s.fh
	s.state = stHeader
	switch h.typ {
	case frameData:
		if s.data != nil && h.flags&flagEndStream != 0 {
			c.endHalf(s, s.data, ts)
		}
		s.data = nil
	case frameHeaders, framePushPromise, frameContinuation:
		if s.lostReason != "" {
			c.lostBlockFrame(s, h, ts)
		} else if s.left == 0 && h.length == 0 {
			c.frame(s, nil, ts)
		}
	default:
		if h.length == 0 && s.lostReason == "" {
			c.frame(s, nil, ts)
		}
	}
}
