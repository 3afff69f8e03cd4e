package http1

import (
	"bytes"
	"strings"
	"time"

	"github.com/podtap/podtap/sidecar/message"
)

// resyncTail bounds the partial line kept while resyncing: a start line
// longer than this (a huge URL) right after a gap is not found, but
// garbage of any length costs bounded memory and copying.
const resyncTail = 8 << 10

// resyncFrom gives up the current position and looks for the next start
// line. flag marks the next message. lineStart says the next byte begins a
// line; when it does not (after a gap, or inside an unparsable body) a
// start line is also looked for inside the current line, as the next
// message usually follows the last byte of a body directly.
func (s *side) resyncFrom(flag string, lineStart bool) {
	s.endMessage()
	s.resetLine()
	s.st = stResync
	s.pre = 0
	s.midLine = !lineStart
	s.next = flag
	s.interim = nil
	s.awaitNext, s.stopAfter = false, false
}

// lostSync resyncs after a capture gap.
func (s *side) lostSync() {
	s.resyncFrom(message.FlagAfterGap, false)
	if !s.client {
		s.afterGap = true
	}
}

// resync discards input a line at a time until a line holds a well-formed
// start line, then hands over to the header parser there.
func (s *side) resync(b []byte, ts time.Time) int {
	i := 0
	for i < len(b) {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			if len(s.buf) == 0 {
				s.lineTS = ts
			}
			s.buf = append(s.buf, b[i:]...)
			if len(s.buf) > 2*resyncTail {
				// Keep the tail, where a start line may be beginning;
				// the line's true start is lost with the rest.
				n := copy(s.buf, s.buf[len(s.buf)-resyncTail:])
				s.buf = s.buf[:n]
				s.midLine = true
			}
			return len(b)
		}
		line, held, lineTS := b[i:i+j+1], len(s.buf), ts
		if held > 0 {
			s.buf = append(s.buf, line...)
			line, lineTS = s.buf, s.lineTS
		}
		if k := s.findStart(line, !s.midLine); k >= 0 {
			// Parse from there on: what was held from earlier calls
			// stays buffered, the rest is read again from b.
			s.st, s.midLine = stHead, false
			s.started, s.start, s.lastTS = true, lineTS, ts
			if k < held {
				n := copy(s.buf, s.buf[k:held])
				s.buf, s.lineLen = s.buf[:n], n
				return i
			}
			s.resetLine()
			return i + k - held
		}
		s.resetLine()
		s.midLine = false
		i += j + 1
	}
	return i
}

// findStart returns where a start line begins in line (one line with its
// ending), or -1. lineStart says line begins a real line; otherwise it may
// be the cut tail of something, so only a start line found inside it with
// a known method (requests) or "HTTP/1." (responses) is believed.
func (s *side) findStart(line []byte, lineStart bool) int {
	if !s.client {
		for off := 0; ; {
			k := bytes.Index(line[off:], []byte("HTTP/1."))
			if k < 0 {
				return -1
			}
			if strictStatusLine(line[off+k:]) {
				return off + k
			}
			off += k + 1
		}
	}
	if lineStart && strictRequestLine(line, false) {
		return 0
	}
	// Embedded: "...METHOD SP target SP HTTP/1.x".
	l := trimEOL(line)
	n := len(l)
	if n < 11 || l[n-9] != ' ' || !isVersion(l[n-8:]) {
		return -1
	}
	t := n - 9
	for t > 0 && l[t-1] > ' ' && l[t-1] != 0x7f {
		t--
	}
	if t == n-9 || t == 0 || l[t-1] != ' ' {
		return -1
	}
	m := t - 1
	run := string(l[:m])
	for _, k := range knownMethods {
		if strings.HasSuffix(run, k) {
			return m - len(k)
		}
	}
	return -1
}

// await holds the client's bytes after a request that may switch
// protocols, until the server's answer says whether they are HTTP/1. The
// HTTP/2 preface ends the wait at once for an h2c upgrade.
func (s *side) await(b []byte, ts time.Time) int {
	if e := s.c.entry(s.seq); e != nil && e.hold && len(s.buf) == 0 && (s.pre > 0 || b[0] == 'P') {
		n, verdict, held := s.preface(b)
		switch verdict {
		case prefaceDone:
			s.c.clientPreface(s)
			return n
		case prefacePartial:
			return n
		}
		s.buf = append(s.buf, held...)
	}
	if s.awaitLost {
		return len(b)
	}
	if len(s.buf)+len(b) > s.c.opts.maxHeader() {
		// Whatever the answer, these bytes cannot all be kept: if the
		// connection stays HTTP/1 the parser resyncs after them.
		s.awaitLost, s.buf = true, nil
		return len(b)
	}
	if len(s.buf) == 0 {
		s.awaitTS = ts
	}
	s.buf = append(s.buf, b...)
	return len(b)
}

// release resumes HTTP/1 parsing of the client once the server declined
// to switch protocols, replaying the bytes held meanwhile.
func (s *side) release() {
	held, lost, ts := s.buf, s.awaitLost, s.awaitTS
	s.buf, s.awaitLost = nil, false
	s.st = stHead
	if lost {
		s.lostSync()
	}
	if len(held) > 0 {
		s.feed(held, ts)
	}
}

// h2Preface is the HTTP/2 client connection preface (RFC 9113 §3.4).
var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

const (
	prefaceNo = iota
	prefacePartial
	prefaceDone
)

// preface matches b, at a client message boundary, against the HTTP/2
// preface, continuing a match held back from earlier calls. prefaceDone
// returns the offset in b where HTTP/2 begins: the preface itself when it
// began in b, or the byte after it when its start was consumed before.
// prefacePartial consumes b. prefaceNo returns the bytes held back, which
// the caller must treat as ordinary input before b.
func (s *side) preface(b []byte) (int, int, []byte) {
	need := h2Preface[s.pre:]
	m := 0
	for m < len(b) && m < len(need) && b[m] == need[m] {
		m++
	}
	switch {
	case m == len(need):
		at := 0
		if s.pre > 0 {
			at = m
		}
		s.pre = 0
		return at, prefaceDone, nil
	case m == len(b):
		s.pre += m
		return m, prefacePartial, nil
	}
	held := h2Preface[:s.pre:s.pre]
	s.pre = 0
	if len(held) == 0 {
		held = nil
	}
	return 0, prefaceNo, held
}
