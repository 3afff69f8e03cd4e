package http1

import (
	"bytes"
	"time"

	"github.com/podtap/podtap/sidecar/message"
)

// state is where a side's parser stands in its byte stream.
type state uint8

const (
	stHead      state = iota // at a message boundary, or inside a start line and header block
	stBody                   // inside a Content-Length body
	stChunkSize              // reading a chunk-size line
	stChunkData              // inside a chunk
	stChunkEnd               // expecting the CRLF that ends a chunk
	stTrailers               // reading the trailer section after the last chunk
	stClose                  // inside a body delimited by the end of the connection
	stResync                 // skipping lines until one is a plausible start line
	stAwait                  // client: holding bytes until the server answers an Upgrade or CONNECT
	stDone                   // the side no longer carries HTTP/1
)

// retainBuf is the largest line buffer kept between messages; a larger one,
// grown by an unusual header block, is released so that idle connections
// stay small.
const retainBuf = 4 << 10

// side parses one side of a connection: requests from the client or
// responses from the server.
type side struct {
	c      *Parser
	client bool
	st     state

	// buf holds the part of a line or header block that arrived in earlier
	// Feed calls; a line or block wholly inside one call is parsed in
	// place. In stAwait it holds the client's held-back bytes.
	buf []byte
	// lineLen and lineCR describe the partial line at the end of buf;
	// lines counts the complete lines of the block so far.
	lineLen int
	lineCR  bool
	lines   int
	lineTS  time.Time // when the buffered partial line began (stResync)
	// pre counts bytes of the HTTP/2 client preface matched and held back
	// at a client message boundary.
	pre int
	// midLine (stResync) says the current line may not begin at a true
	// line start (after a gap, or inside an unparsable body).
	midLine bool

	// The message being read.
	started   bool // its first byte was seen
	start     time.Time
	lastTS    time.Time // Feed time of its latest byte
	seq       int64     // its queue entry (requests), or the entry it answers (responses)
	req       *message.Request
	resp      *message.Response
	remaining int64  // bytes left in a Content-Length body or chunk
	enc       string // codings to undo once the body is complete
	keep      bool   // the body is being kept, not skipped
	limit     int    // cap on kept (encoded) bytes
	length    int    // the declared Content-Length, 0 if none
	kept      []byte
	size      int64 // body bytes seen, kept or not
	drop      string
	truncated bool
	trailers  message.Headers
	sawCR     bool // stChunkEnd: the CR was seen
	awaitNext bool // client: the request may switch protocols; hold what follows
	stopAfter bool // client: the connection switched; this request is the last

	// Across messages.
	next         string // flag for the next message, after a resync
	afterGap     bool   // server: bytes were lost since the previous response
	interim      []int  // server: 1xx statuses before the final response
	interimStart time.Time
	awaitLost    bool // stAwait: held bytes overflowed and were discarded
	awaitTS      time.Time
}

// feed runs the state machine over b and returns how many bytes were
// HTTP/1: all of them unless the side stopped (stDone) inside b.
func (s *side) feed(b []byte, ts time.Time) int {
	i := 0
	for i < len(b) {
		if s.st == stDone || s.stopHere() {
			s.st = stDone
			break
		}
		var n int
		switch s.st {
		case stHead:
			n = s.head(b[i:], ts)
		case stBody:
			n = s.body(b[i:], ts)
		case stChunkSize:
			n = s.chunkSize(b[i:], ts)
		case stChunkData:
			n = s.chunkData(b[i:], ts)
		case stChunkEnd:
			n = s.chunkEnd(b[i:], ts)
		case stTrailers:
			n = s.trailerSection(b[i:], ts)
		case stClose:
			s.take(b[i:], ts)
			n = len(b) - i
		case stResync:
			n = s.resync(b[i:], ts)
		case stAwait:
			n = s.await(b[i:], ts)
		}
		i += n
	}
	return i
}

// stopHere reports whether the side has reached its switch point:
// the connection changed protocol and this side is between messages
// with nothing left to answer.
func (s *side) stopHere() bool {
	if s.c.sw == nil {
		return false
	}
	switch {
	case s.st == stAwait || s.st == stResync:
	case s.st == stHead && !s.started && s.pre == 0:
	default:
		return false
	}
	return s.client || !s.c.unanswered()
}

// head reads a start line and header block.
func (s *side) head(b []byte, ts time.Time) int {
	i := 0
	if !s.started {
		// Empty lines before a start line are allowed (RFC 9112 §2.2);
		// some clients send a CRLF after a POST body. Inside a held-back
		// preface they are the preface's own.
		for s.pre == 0 && i < len(b) && (b[i] == '\r' || b[i] == '\n') {
			i++
		}
		if i == len(b) {
			return i
		}
		if s.client && (s.pre > 0 || b[i] == 'P') {
			n, verdict, held := s.preface(b[i:])
			switch verdict {
			case prefaceDone:
				s.c.clientPreface(s)
				return i + n
			case prefacePartial:
				return i + n
			}
			if held != nil {
				s.started, s.start, s.lastTS = true, ts, ts
				s.feed(held, ts)
				return i
			}
		}
		s.started, s.start, s.lastTS = true, ts, ts
		if !s.client && b[i] != 'H' || s.client && !isToken(b[i]) {
			s.malformed(s.lineKind(), ts, true)
			return i
		}
	}
	raw, n := s.collect(b[i:], ts, true)
	if raw == nil {
		return i + n
	}
	if s.client {
		s.requestHead(raw, ts)
	} else {
		s.responseHead(raw, ts)
	}
	return i + n
}

func (s *side) lineKind() string {
	if s.client {
		return kindRequestLine
	}
	return kindStatusLine
}

// collect gathers a header block (withStart) or trailer section up to its
// blank line. It returns the whole block once complete, in place in b or
// in s.buf, with how many bytes of b it used. A block longer than
// maxHeader is a parse error, raised at its maxHeader-th byte however the
// input was split, and nil is returned.
func (s *side) collect(b []byte, ts time.Time, withStart bool) ([]byte, int) {
	end := s.scanBlock(b, withStart)
	if room := max(s.c.opts.maxHeader()-len(s.buf), 0); end < 0 && len(b) > room || end > room {
		s.malformed(kindHeaderTooLarge, ts, false)
		return nil, room
	}
	if end < 0 {
		s.buf = append(s.buf, b...)
		return nil, len(b)
	}
	raw := b[:end]
	if len(s.buf) > 0 {
		s.buf = append(s.buf, raw...)
		raw = s.buf
	}
	s.resetLine()
	s.lastTS = ts
	return raw, end
}

// scanBlock returns the index in p just past the blank line that ends the
// block that p continues, or -1. It works a line at a time with IndexByte,
// carrying the state of a partial line across calls.
func (s *side) scanBlock(p []byte, withStart bool) int {
	first := 0
	if withStart {
		first = 1
	}
	i := 0
	for {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			if rest := len(p) - i; rest > 0 {
				s.lineCR = s.lineLen == 0 && rest == 1 && p[i] == '\r'
				s.lineLen += rest
			}
			return -1
		}
		blank := s.lineLen == 0 && (j == 0 || j == 1 && p[i] == '\r') || s.lineCR && j == 0
		s.lines++
		s.lineLen, s.lineCR = 0, false
		i += j + 1
		if blank && s.lines > first {
			return i
		}
	}
}

// resetLine forgets the buffered block once it has been consumed.
func (s *side) resetLine() {
	s.lineLen, s.lineCR, s.lines = 0, false, 0
	if cap(s.buf) > retainBuf {
		s.buf = nil
	} else {
		s.buf = s.buf[:0]
	}
}

// newMessage resets the per-message state for a message whose headers
// were just read.
func (s *side) newMessage() {
	s.remaining, s.enc, s.keep, s.limit, s.length = 0, "", false, 0, 0
	s.kept, s.size, s.drop, s.truncated, s.trailers = nil, 0, "", false, nil
	s.sawCR = false
}

// endMessage returns the side to a message boundary.
func (s *side) endMessage() {
	s.req, s.resp = nil, nil
	s.kept, s.trailers = nil, nil
	s.started, s.lastTS = false, time.Time{}
	s.st = stHead
}

// takeFlag returns the pending after-resync flag, if any, as a Flags slice.
func (s *side) takeFlag() []string {
	if s.next == "" {
		return nil
	}
	f := []string{s.next}
	s.next = ""
	return f
}
