package http1

import (
	"bytes"
	"errors"
	"time"

	"github.com/podtap/podtap/sidecar/bufpool"
	"github.com/podtap/podtap/sidecar/content"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

// maxChunkLine caps a chunk-size line with its extensions.
const maxChunkLine = 4 << 10

// beginBody decides how the body is kept. length is the Content-Length, or
// -1 when the body is chunked or delimited by close. skip means the pair
// is already condemned, so the body is counted but not kept.
func (s *side) beginBody(encoding string, length int64, skip bool) {
	if encoding != "" && !content.Identity(encoding) {
		s.enc = encoding
	}
	s.keep = s.drop == "" && !skip
	s.limit = s.c.opts.maxBody()
	if s.enc != "" {
		if !content.Known(s.enc) {
			s.keep = false
			s.flag(message.FlagUnsupportedEncoding)
		}
		// Encoded bytes are kept until the body ends; incompressible data
		// grows slightly when "compressed", so the cap on them is a little
		// above the decoded limit, which Decode then enforces exactly.
		s.limit += s.c.opts.maxBody()/256 + 1024
	}
	if !s.keep {
		return
	}
	if length > int64(s.limit) {
		s.tooLarge()
		return
	}
	s.length = int(length)
}

// take counts body bytes and keeps them while the size limit allows.
func (s *side) take(p []byte, ts time.Time) {
	s.size += int64(len(p))
	s.lastTS = ts
	if !s.keep {
		return
	}
	need := len(s.kept) + len(p)
	if need > s.limit {
		s.tooLarge()
		return
	}
	if need > cap(s.kept) {
		s.grow(need)
	}
	s.kept = append(s.kept, p...)
}

// grow makes room for need kept bytes. The buffer follows the bytes that
// arrived, not the declared length: a connection that declares a large
// body and stalls holds only what it sent. It doubles, so a body that
// arrives in many segments is copied O(1) times per byte, and stops at the
// declared length, so a body that arrives whole is allocated once, to size.
func (s *side) grow(need int) {
	n := max(need, 2*cap(s.kept))
	if s.length > 0 {
		n = min(n, s.length)
	}
	b := append(bufpool.Get(min(n, s.limit)), s.kept...)
	bufpool.Put(s.kept)
	s.kept = b
}

// tooLarge stops keeping a body past the size limit; its size is still
// counted.
func (s *side) tooLarge() {
	if s.drop == "" {
		s.drop = metrics.ReasonTooLarge
	}
	s.keep, s.kept, s.truncated = false, nil, true
}

// lose marks the message as cut by a capture gap of n bytes (n<0: unknown).
func (s *side) lose(n int) {
	if s.drop == "" {
		s.drop = metrics.ReasonGap
	}
	s.keep, s.kept = false, nil
	if n > 0 {
		s.size += int64(n)
	}
}

func (s *side) flag(f string) {
	if s.client {
		s.req.Flags = append(s.req.Flags, f)
	} else {
		s.resp.Flags = append(s.resp.Flags, f)
	}
}

func (s *side) body(b []byte, ts time.Time) int {
	n := int(min(int64(len(b)), s.remaining))
	s.take(b[:n], ts)
	s.remaining -= int64(n)
	if s.remaining == 0 {
		s.complete(ts)
	}
	return n
}

func (s *side) chunkSize(b []byte, ts time.Time) int {
	j := bytes.IndexByte(b, '\n')
	if room := max(maxChunkLine-len(s.buf), 0); j < 0 && len(b) > room || j > room {
		s.malformed(kindChunk, ts, false)
		return room
	}
	if j < 0 {
		s.buf = append(s.buf, b...)
		return len(b)
	}
	line := b[:j]
	if len(s.buf) > 0 {
		s.buf = append(s.buf, line...)
		line = s.buf
	}
	size, ok := parseChunkSize(line)
	s.resetLine()
	s.lastTS = ts
	switch {
	case !ok:
		s.malformed(kindChunk, ts, false)
	case size == 0:
		s.st = stTrailers
	default:
		s.remaining = size
		s.st = stChunkData
	}
	return j + 1
}

// parseChunkSize reads "HEX [BWS] [; extensions]" with an optional CR.
// Whitespace around the size is accepted: real clients send "8 ".
func parseChunkSize(l []byte) (int64, bool) {
	l = trimEOL(l)
	i := 0
	for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
		i++
	}
	var n int64
	d, sig := 0, 0
	for ; i < len(l); i++ {
		c := l[i]
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			goto rest
		}
		// 15 significant hex digits keep n below 2^60: no overflow, and
		// far past anything a body could be.
		if n > 0 || v > 0 {
			if sig++; sig > 15 {
				return 0, false
			}
		}
		n = n<<4 | int64(v)
		d++
	}
rest:
	if d == 0 {
		return 0, false
	}
	for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
		i++
	}
	return n, i == len(l) || l[i] == ';'
}

func (s *side) chunkData(b []byte, ts time.Time) int {
	n := int(min(int64(len(b)), s.remaining))
	s.take(b[:n], ts)
	s.remaining -= int64(n)
	if s.remaining == 0 {
		s.st = stChunkEnd
	}
	return n
}

func (s *side) chunkEnd(b []byte, ts time.Time) int {
	i := 0
	if !s.sawCR && b[0] == '\r' {
		s.sawCR = true
		if i = 1; len(b) == 1 {
			return 1
		}
	}
	if b[i] != '\n' {
		s.malformed(kindChunk, ts, false)
		return i
	}
	s.sawCR = false
	s.st = stChunkSize
	return i + 1
}

// trailerSection reads the fields after the last chunk, up to the blank
// line that ends the message.
func (s *side) trailerSection(b []byte, ts time.Time) int {
	raw, n := s.collect(b, ts, false)
	if raw == nil {
		return n
	}
	if len(raw) > 2 {
		s.trailers = parseBlock(raw, false, nil).fields
	}
	s.complete(ts)
	return n
}

// complete finishes the current message: decodes its body and hands it on.
func (s *side) complete(ts time.Time) {
	body, size := s.kept, s.size
	if s.keep && s.enc != "" && len(body) > 0 {
		dec, err := content.Decode(s.enc, body, s.c.opts.maxBody())
		switch {
		case err == nil:
			body, size = dec, int64(len(dec))
		case errors.Is(err, content.ErrTooLarge):
			s.tooLarge()
			body = nil
		default:
			s.flag(message.FlagContentDecodeError)
			body = nil
		}
	}
	if len(body) == 0 {
		body = nil
	}
	seq := s.seq
	if s.client {
		r := s.req
		r.Body, r.BodySize, r.Truncated, r.Trailers, r.End = body, size, s.truncated, s.trailers, ts
		r.Lent, r.ReleaseBody = body, bufpool.Put
		if s.drop != "" {
			r.Drop = s.drop
		}
		s.endMessage()
		s.afterRequest(seq)
		s.c.requestDone(seq)
		return
	}
	r := s.resp
	r.Body, r.BodySize, r.Truncated, r.Trailers, r.End = body, size, s.truncated, s.trailers, ts
	r.Lent, r.ReleaseBody = body, bufpool.Put
	if s.drop != "" {
		r.Drop = s.drop
	}
	s.endMessage()
	s.c.responseDone(seq, r)
}

// afterRequest chooses what the client side does after a request:
// the next request, or waiting for the answer to a protocol switch.
func (s *side) afterRequest(seq int64) {
	switch {
	case s.stopAfter:
		s.st = stDone
	case s.awaitNext:
		e := s.c.entry(seq)
		switch {
		case e == nil:
		case !e.decided:
			s.st = stAwait
		case s.c.sw != nil:
			s.st = stDone
		}
	}
	s.awaitNext, s.stopAfter = false, false
}

// malformed counts a parse error, hands on what was started of the
// message (so that pairing stays aligned) and resyncs. lineStart says the
// next input byte begins a line.
func (s *side) malformed(kind string, ts time.Time, lineStart bool) {
	countParseError(kind)
	s.abandon(metrics.ReasonParseError, ts)
	s.resyncFrom(message.FlagAfterParseError, lineStart)
}

// abandon hands on the message being read, cut short at end: the message
// itself when its headers were read, otherwise a placeholder half.
func (s *side) abandon(reason string, end time.Time) {
	switch {
	case s.req != nil || s.resp != nil:
		if s.drop == "" {
			s.drop = reason
		}
		s.keep, s.kept = false, nil
		s.complete(end)
	case !s.started:
	case s.client:
		req := &message.Request{Proto: message.ProtoHTTP11, Start: s.start, End: end, Drop: reason, Flags: s.takeFlag()}
		seq := s.c.pushRequest(req, false)
		s.c.requestDone(seq)
	default:
		resp := &message.Response{
			Proto: message.ProtoHTTP11, Start: s.start, End: end, Drop: reason,
			Interim: s.interim, AfterGap: s.afterGap, Flags: s.takeFlag(),
		}
		if len(s.interim) > 0 {
			resp.Start = s.interimStart
		}
		s.interim, s.afterGap = nil, false
		seq, _ := s.c.matchResponse(resp)
		s.c.responseDone(seq, resp)
	}
	s.endMessage()
}
