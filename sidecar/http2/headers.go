package http2

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

// UnknownHeader names a header field whose name the HPACK decoder could
// not resolve (it referenced a table entry inserted before the capture
// saw the connection). Its value is kept when known, else "".
const UnknownHeader = ":unknown"

// maxInterim bounds the 1xx responses kept per stream.
const maxInterim = 8

// headers applies a decoded header block from side s to its stream.
func (c *Parser) headers(s *side, blk *block, fields []hfield, unknown bool, ts time.Time) {
	hasMethod, hasStatus := false, false
	for i := range fields {
		switch fields[i].Name {
		case ":method":
			hasMethod = true
		case ":status":
			hasStatus = true
		}
	}
	if blk.push {
		c.promise(s, blk.promised, fields, unknown, ts)
		return
	}
	switch {
	case hasMethod:
		c.setRole(s, true)
	case hasStatus:
		c.setRole(s, false)
	}
	if c.isClient(s) {
		c.clientHeaders(s, blk, fields, hasMethod, unknown, ts)
	} else {
		c.serverHeaders(s, blk, fields, hasStatus, unknown, ts)
	}
}

func (c *Parser) clientHeaders(s *side, blk *block, fields []hfield, hasMethod, unknown bool, ts time.Time) {
	id := blk.stream
	st := c.streams[id]
	if hasMethod && (st == nil || (st.req == nil && !st.in.started)) {
		if st == nil {
			if c.closed.has(id) {
				return
			}
			st = c.open(id, ts)
		}
		c.newRequestSeen(id)
		c.setRequest(st, c.request(st, fields, id, unknown, ts))
		if st.resp != nil && st.resp.Drop == "" {
			// The response came first and was kept unjudged.
			st.resp.Drop = c.opts.Judge.JudgeResponse(st.req, st.resp)
		}
		if blk.endStream {
			c.endHalf(s, st, ts)
		}
		return
	}
	if st == nil {
		if st = c.streamFor(s, id, ts); st == nil {
			return
		}
	}
	if st.req != nil {
		st.req.Trailers = c.fieldList(fields, st.req.Trailers[:0])
		if unknown {
			st.req.Flags = appendFlag(st.req.Flags, message.FlagHPACKUnknown)
		}
	}
	if blk.endStream {
		c.endHalf(s, st, ts)
	}
}

// setRequest attaches a new request to its stream and judges it.
func (c *Parser) setRequest(st *stream, req *message.Request) {
	st.req = req
	st.grpc = isGRPC(req.ContentType)
	if st.grpc {
		req.Proto = message.ProtoGRPC
	}
	req.Drop = c.opts.Judge.JudgeRequest(req)
	st.in.started = true
	st.in.keep = req.Drop == ""
}

// promise opens the stream a PUSH_PROMISE from the server reserves, with
// the promised request.
func (c *Parser) promise(s *side, id uint32, fields []hfield, unknown bool, ts time.Time) {
	if id == 0 || c.isClient(s) || c.streams[id] != nil || c.closed.has(id) {
		return
	}
	st := c.open(id, ts)
	c.setRequest(st, c.request(st, fields, id, unknown, ts))
	st.in.done = true
	st.in.end = ts
}

func (c *Parser) serverHeaders(s *side, blk *block, fields []hfield, hasStatus, unknown bool, ts time.Time) {
	st := c.streamFor(s, blk.stream, ts)
	if st == nil {
		return
	}
	switch {
	case st.resp != nil:
		st.resp.Trailers = c.fieldList(fields, st.resp.Trailers[:0])
		if unknown {
			st.resp.Flags = appendFlag(st.resp.Flags, message.FlagHPACKUnknown)
		}
	case !hasStatus:
		// Trailers whose response headers were never seen.
		st.out.started = true
		st.out.fail(metrics.ReasonGap)
	default:
		resp := c.response(st, fields, blk.stream, unknown, ts)
		if resp.Status >= 100 && resp.Status < 200 {
			if len(st.interim) < maxInterim {
				st.interim = append(st.interim, resp.Status)
			}
			return
		}
		c.setResponse(st, resp)
	}
	if blk.endStream {
		c.endHalf(s, st, ts)
	}
}

// setResponse attaches the final response headers to their stream and
// judges them.
func (c *Parser) setResponse(st *stream, resp *message.Response) {
	st.resp = resp
	resp.Interim = st.interim
	st.out.started = true
	if !st.grpc && isGRPC(resp.ContentType) {
		st.grpc = true
	}
	c.inferGRPC(st)
	if st.grpc {
		resp.Proto = message.ProtoGRPC
		if st.req != nil {
			st.req.Proto = message.ProtoGRPC
		}
	}
	if st.in.drop != "" {
		// The pair is lost already; its body is not worth keeping.
		return
	}
	if st.req == nil {
		// The request is still to come: keep the body until it is judged.
		st.out.keep = st.out.drop == ""
		return
	}
	resp.Drop = c.opts.Judge.JudgeResponse(st.req, resp)
	st.out.keep = resp.Drop == "" && st.out.drop == "" && st.req.Drop == ""
}

// inlineFields is how many header fields a half carries in its own
// allocation: a gRPC request's regular fields (content-type, te,
// user-agent, grpc-timeout and a few of the application's) and a
// response's headers and trailers (grpc-status, grpc-message) mostly fit,
// so a half costs one allocation, not one for itself, one for its headers
// and more for its trailers as they grow.
const inlineFields = 10

// requestWithFields and responseWithFields are a half with room for its
// fields and for one gRPC message (most calls carry one each way), inside
// its stream's allocation: until the body is decoded, the half's Messages
// is that room, empty.
type requestWithFields struct {
	req    message.Request
	fields [inlineFields]message.Header
	msgs   [1][]byte
}

type responseWithFields struct {
	resp   message.Response
	fields [inlineFields]message.Header
	msgs   [1][]byte
}

// fieldSpace is room for n fields: the inline array when they fit.
func fieldSpace(inline *[inlineFields]message.Header, n int) message.Headers {
	if n <= inlineFields {
		return inline[:0]
	}
	return make(message.Headers, 0, n)
}

// request builds st's request half from its header fields.
func (c *Parser) request(st *stream, fields []hfield, id uint32, unknown bool, ts time.Time) *message.Request {
	// The room is as the stream was allocated, zero: a request is made
	// once per stream. Setting its fields, rather than copying in a whole
	// new value, spares copying hundreds of bytes through write barriers.
	m := &st.reqRoom
	req := &m.req
	req.Proto, req.StreamID, req.Start, req.End = message.ProtoH2, id, ts, ts
	req.Headers = c.fieldList(fields, fieldSpace(&m.fields, len(fields)))
	req.Messages = m.msgs[:0]
	req.ContentType = req.Headers.Get("content-type")
	// An unresolved name is "", never a pseudo-header's.
	for i := range fields {
		switch f := &fields[i]; f.Name {
		case ":method":
			req.Method = f.Value
		case ":path":
			req.Path, req.Query, _ = strings.Cut(f.Value, "?")
		case ":authority":
			req.Authority = f.Value
		}
	}
	if req.Authority == "" {
		req.Authority = req.Headers.Get("host")
	}
	if unknown {
		req.Flags = append(req.Flags, message.FlagHPACKUnknown)
	}
	return req
}

// response builds st's response half from its header fields; an interim
// (1xx) response's room is taken again by the next.
func (c *Parser) response(st *stream, fields []hfield, id uint32, unknown bool, ts time.Time) *message.Response {
	m := &st.respRoom
	if m.resp.Proto != "" {
		// An interim response took the room before.
		*m = responseWithFields{}
	}
	resp := &m.resp
	resp.Proto, resp.StreamID, resp.Start, resp.End = message.ProtoH2, id, ts, ts
	resp.Headers = c.fieldList(fields, fieldSpace(&m.fields, len(fields)))
	resp.Messages = m.msgs[:0]
	// The trailers, when they come, take the room the headers left. The
	// headers are capped so that appending to them cannot overwrite the
	// trailers.
	n := len(resp.Headers)
	resp.Headers = resp.Headers[:n:n]
	if len(fields) <= inlineFields {
		resp.Trailers = m.fields[n:n]
	}
	resp.ContentType = resp.Headers.Get("content-type")
	for i := range fields {
		if fields[i].Name == ":status" {
			resp.Status, _ = strconv.Atoi(fields[i].Value)
		}
	}
	if unknown {
		resp.Flags = append(resp.Flags, message.FlagHPACKUnknown)
	}
	return resp
}

// fieldList appends the regular fields of a header block to dst, leaving
// out its pseudo-headers.
func (c *Parser) fieldList(fields []hfield, dst message.Headers) message.Headers {
	for i := range fields {
		f := &fields[i]
		if !f.NameUnknown && strings.HasPrefix(f.Name, ":") {
			continue
		}
		dst = appendField(dst, f)
	}
	return dst
}

func appendField(dst message.Headers, f *hfield) message.Headers {
	if f.NameUnknown {
		return append(dst, message.Header{Name: UnknownHeader, Value: f.Value})
	}
	return append(dst, message.Header{Name: f.Name, Value: f.Value})
}

func appendFlag(flags []string, flag string) []string {
	if slices.Contains(flags, flag) {
		return flags
	}
	return append(flags, flag)
}
