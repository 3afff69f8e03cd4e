package http1

import (
	"time"

	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

// requestWithHead and responseWithHead allocate a message together with
// room for its header block: one allocation per message.
type requestWithHead struct {
	req   message.Request
	store headStore
}

type responseWithHead struct {
	resp  message.Response
	store headStore
}

// requestHead builds the request from its header block, judges it, and
// sets up the body.
func (s *side) requestHead(raw []byte, ts time.Time) {
	m := new(requestWithHead)
	blk := parseBlock(raw, true, &m.store)
	f := readFraming(blk.fields)
	rl, ok := parseRequestLine(blk.first)
	if !ok {
		s.badStartLine(kindRequestLine, f, ts)
		return
	}
	path, query, authority := splitTarget(rl.method, rl.target)
	if authority == "" {
		authority = f.host
	}
	req := &m.req
	*req = message.Request{
		Proto:       rl.proto,
		Method:      rl.method,
		Path:        path,
		Query:       query,
		Authority:   authority,
		Headers:     blk.fields,
		ContentType: f.contentType,
		Start:       s.start,
		Flags:       s.takeFlag(),
	}
	if rl.nonstandard {
		req.Flags = append(req.Flags, message.FlagNonstandardRequestLine)
	}
	if blk.malformed {
		req.Flags = append(req.Flags, message.FlagMalformedHeader)
	}
	s.newMessage()
	s.req = req
	if s.c.opts.Judge != nil {
		req.Drop = s.c.opts.Judge.JudgeRequest(req)
		s.drop = req.Drop
	}
	upgradeH2C := f.upgrade != "" && hasToken(f.upgrade, "h2c")
	s.seq = s.c.pushRequest(req, upgradeH2C)
	// After a request that may switch protocols, the client's next bytes
	// may already be the new protocol's, so they wait for the answer.
	s.awaitNext = f.upgrade != "" || rl.method == "CONNECT"
	switch {
	case f.hasTE && !f.chunked:
		// Without chunked last, a request's length is unknowable
		// (RFC 9112 §6.3): nothing after it can be trusted.
		s.malformed(kindTransferEncoding, ts, false)
	case f.chunked:
		s.beginBody(f.encoding, -1, false)
		s.st = stChunkSize
	case f.badLength:
		s.malformed(kindContentLength, ts, false)
	case f.length > 0:
		s.beginBody(f.encoding, f.length, false)
		s.remaining = f.length
		s.st = stBody
	default:
		s.complete(ts)
	}
}

// responseHead builds the response from its header block, pairs it with
// its request in the Parser's queue, and sets up the body.
func (s *side) responseHead(raw []byte, ts time.Time) {
	m := new(responseWithHead)
	blk := parseBlock(raw, true, &m.store)
	proto, status, ok := parseStatusLine(blk.first)
	if !ok {
		s.badStartLine(kindStatusLine, readFraming(blk.fields), ts)
		return
	}
	if status < 200 && status != 101 {
		// An interim response: the final one follows on the same request.
		if len(s.interim) == 0 {
			s.interimStart = s.start
		}
		s.interim = append(s.interim, status)
		s.started = false
		return
	}
	f := readFraming(blk.fields)
	resp := &m.resp
	*resp = message.Response{
		Proto:       proto,
		Status:      status,
		Headers:     blk.fields,
		ContentType: f.contentType,
		Start:       s.start,
		Interim:     s.interim,
		AfterGap:    s.afterGap,
		Flags:       s.takeFlag(),
	}
	if len(s.interim) > 0 {
		resp.Start = s.interimStart
	}
	if blk.malformed {
		resp.Flags = append(resp.Flags, message.FlagMalformedHeader)
	}
	s.interim, s.afterGap = nil, false
	s.newMessage()
	s.resp = resp
	var req *message.Request
	s.seq, req = s.c.matchResponse(resp)
	if req != nil {
		req.Answered = true
	}
	connect := req != nil && req.Method == "CONNECT"

	switch {
	case status == 101:
		s.c.switched(s.seq, ts)
		return
	case connect && status < 300:
		// A tunnel: the pair is kept, the bytes after it are the
		// tunnelled connection's.
		s.c.decide(s.seq, true)
		s.complete(ts)
		s.c.setProto("tunnel", nil)
		s.st = stDone
		return
	}
	s.c.decide(s.seq, false)

	// The request's verdict is the pair's: the body of a response to a
	// dropped request is not kept, and the judge is asked only when the
	// pair may survive. A response to an unknown request (the capture
	// began after it) is kept as it is.
	skip := req != nil && req.Drop != ""
	if !skip && req != nil && s.c.opts.Judge != nil {
		resp.Drop = s.c.opts.Judge.JudgeResponse(req, resp)
		s.drop = resp.Drop
	}
	switch {
	case req != nil && req.Method == "HEAD", status == 204, status == 304:
		s.complete(ts)
	case f.chunked:
		s.beginBody(f.encoding, -1, skip)
		s.st = stChunkSize
	case f.hasTE:
		s.beginBody(f.encoding, -1, skip)
		s.st = stClose
	case f.badLength:
		s.malformed(kindContentLength, ts, false)
	case f.length > 0:
		s.beginBody(f.encoding, f.length, skip)
		s.remaining = f.length
		s.st = stBody
	case f.length == 0:
		s.complete(ts)
	default:
		s.beginBody(f.encoding, -1, skip)
		s.st = stClose
	}
}

// badStartLine handles a header block whose start line is malformed. The
// block itself ended where it should, so the parser is still in step: it
// hands on a placeholder (a server answers garbage, usually with a 400, and
// pairing must stay aligned), skips the body the headers declare, and
// reads the next message from its start.
func (s *side) badStartLine(kind string, f framing, ts time.Time) {
	countParseError(kind)
	s.newMessage()
	s.drop = metrics.ReasonParseError
	if s.client {
		s.req = &message.Request{Proto: message.ProtoHTTP11, Start: s.start, Drop: s.drop, Flags: s.takeFlag()}
		s.seq = s.c.pushRequest(s.req, false)
	} else {
		s.resp = &message.Response{Proto: message.ProtoHTTP11, Start: s.start, Drop: s.drop, AfterGap: s.afterGap, Flags: s.takeFlag()}
		s.afterGap = false
		s.seq, _ = s.c.matchResponse(s.resp)
	}
	switch {
	case f.chunked:
		s.beginBody("", -1, true)
		s.st = stChunkSize
	case f.length > 0 && !f.badLength:
		s.beginBody("", f.length, true)
		s.remaining = f.length
		s.st = stBody
	default:
		s.complete(ts)
	}
}
