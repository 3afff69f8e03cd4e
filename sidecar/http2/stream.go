package http2

import (
	"time"

	"github.com/podtap/podtap/sidecar/bufpool"
	"github.com/podtap/podtap/sidecar/grpcwire"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

// half is what one side sends on a stream: the request (the client's) or
// the response (the server's).
type half struct {
	// body holds the DATA bytes kept; size counts all of them.
	body []byte
	size int64
	// keep says the bytes are wanted: headers seen and not judged away.
	keep bool
	// started says the message's headers were seen (or are known lost).
	started bool
	done    bool
	// drop is why the half cannot make a pair, first reason first.
	drop string
	end  time.Time
}

// fail condemns the half and lets go of its bytes.
func (h *half) fail(reason string) {
	if h.drop == "" {
		h.drop = reason
	}
	h.keep = false
	bufpool.Put(h.body)
	h.body = nil
}

// stream is one HTTP/2 stream: a request and its response.
type stream struct {
	id uint32
	// req is nil while the request's headers are unknown: the stream
	// started before the capture or in lost bytes.
	req     *message.Request
	resp    *message.Response
	in, out half
	grpc    bool
	interim []int
	start   time.Time
	// reqRoom and respRoom are where req and resp are made, with room for
	// their fields, so that a stream and its halves cost one allocation.
	// The halves outlive the stream's other state, keeping it with them:
	// a few hundred bytes, for as long as the pair is on its way.
	reqRoom  requestWithFields
	respRoom responseWithFields
}

// halfOf returns the half that side s sends on st.
func (c *Parser) halfOf(s *side, st *stream) *half {
	if c.isClient(s) {
		return &st.in
	}
	return &st.out
}

// open creates a stream, abandoning the oldest when too many are open.
func (c *Parser) open(id uint32, ts time.Time) *stream {
	if len(c.streams) >= c.opts.MaxStreams {
		var oldest *stream
		for _, st := range c.streams {
			if oldest == nil || st.id < oldest.id {
				oldest = st
			}
		}
		c.abandon(oldest, metrics.ReasonPendingLimit, ts)
	}
	st := &stream{id: id, start: ts}
	c.streams[id] = st
	return st
}

// streamFor finds the stream a frame belongs to. A stream the parser has
// not seen open is opened with its request unknown when it may have
// started unseen; a response to a request not seen yet is kept waiting for
// it, as the request's bytes may still be held up in reassembly; otherwise
// (the stream ended, or never existed) the frame is ignored.
func (c *Parser) streamFor(s *side, id uint32, ts time.Time) *stream {
	if st := c.streams[id]; st != nil {
		return st
	}
	if id == 0 || c.closed.has(id) {
		return nil
	}
	switch {
	case c.lostOpen || id <= c.lostMax:
		lostStreams.Inc()
		st := c.open(id, ts)
		st.in.started = true
		st.in.fail(metrics.ReasonGap)
		return st
	case !c.isClient(s) && id > c.highest && id%2 == 1:
		return c.open(id, ts)
	}
	return nil
}

// markLate records that streams may have started unseen, until the next
// new request shows where they stop.
func (c *Parser) markLate() { c.lostOpen = true }

// data adds DATA bytes to the half side s sends on st.
func (c *Parser) data(s *side, st *stream, b []byte) {
	h := c.halfOf(s, st)
	h.size += int64(len(b))
	if !h.keep {
		return
	}
	limit := c.opts.MaxBodyBytes
	if st.grpc {
		limit += maxGRPCFraming
	}
	if len(h.body)+len(b) > limit {
		h.fail(metrics.ReasonTooLarge)
		return
	}
	if need := len(h.body) + len(b); need > cap(h.body) {
		h.grow(need, c.sizeHint(st, b, limit), limit)
	}
	h.body = append(h.body, b...)
}

// grow makes room for need body bytes in a pooled buffer: first to hint,
// then doubling, so that a body arriving in many frames is copied O(1)
// times per byte, never past limit.
func (h *half) grow(need, hint, limit int) {
	n := hint
	if h.body != nil {
		n = 2 * cap(h.body)
	}
	b := append(bufpool.Get(min(max(n, need), limit)), h.body...)
	bufpool.Put(h.body)
	h.body = b
}

// maxGRPCFraming is what the 5-byte message prefixes of a gRPC stream may
// add to its message bytes before the stream is too large: the limit
// applies to the messages, checked exactly when they are unframed.
const maxGRPCFraming = 64 << 10

// sizeHint sizes a body buffer from the first bytes: a gRPC message
// announces its length, which saves regrowing for large messages.
func (c *Parser) sizeHint(st *stream, b []byte, limit int) int {
	if n, ok := grpcwire.FrameLen(b); st.grpc && ok {
		return max(len(b), min(n, limit))
	}
	return len(b)
}

// endHalf records END_STREAM from side s.
func (c *Parser) endHalf(s *side, st *stream, ts time.Time) {
	h := c.halfOf(s, st)
	h.done = true
	h.end = ts
	c.maybeEmit(st, ts)
}

// maybeEmit hands on a stream once the response ended and the request
// either ended too or is already condemned. Waiting for the request's end
// matters: its last bytes may be held up in reassembly, or reported lost
// later, while the response is already here; peers end streams promptly
// (a server that answers early resets the stream), so waiting is short.
func (c *Parser) maybeEmit(st *stream, ts time.Time) {
	if st.out.done && (st.in.done || st.in.drop != "") {
		c.emit(st, "", ts)
	}
}

// abandon hands on a stream that will not complete, for the reason given.
func (c *Parser) abandon(st *stream, reason string, ts time.Time) {
	if reason == metrics.ReasonPendingLimit && st.req != nil && st.req.Drop == "" {
		st.req.Drop = reason
	}
	c.emit(st, reason, ts)
}

// emit hands on both halves of a finished stream and forgets it. reason
// is "" for a stream that ended normally or was reset, else why the
// response cannot complete.
func (c *Parser) emit(st *stream, reason string, ts time.Time) {
	delete(c.streams, st.id)
	c.closed.add(st.id)
	c.inferGRPC(st)
	req := st.req
	if req == nil {
		// Never seen: begun before the capture, lost, or still missing.
		req = &message.Request{StreamID: st.id, Start: st.start, End: st.start, Drop: st.in.drop, Flags: []string{message.FlagLateJoin}}
		if req.Drop == "" {
			req.Drop = metrics.ReasonNoRequest
		}
	}
	c.finishRequest(st, req, ts)
	resp := st.resp
	switch {
	case resp == nil:
		if reason == "" {
			reason = metrics.ReasonNoResponse
		}
		if st.out.drop != "" {
			reason = st.out.drop
		}
		resp = &message.Response{StreamID: st.id, Start: ts, End: ts, Drop: reason, Interim: st.interim}
		resp.Proto = req.Proto
	default:
		c.finishResponse(st, resp, ts)
		if !st.out.done {
			if reason != "" && resp.Drop == "" {
				resp.Drop = reason
			}
			resp.Truncated = true
		}
	}
	c.out.Request(req)
	c.out.Response(resp)
}

// reset ends a stream on RST_STREAM. A response that had begun is kept as
// far as it got, flagged: cancelling a streaming call is a normal way to
// end it.
func (c *Parser) reset(id uint32, ts time.Time) {
	st := c.streams[id]
	if st == nil {
		return
	}
	if st.resp != nil {
		st.resp.Flags = append(st.resp.Flags, message.FlagReset)
	}
	c.emit(st, "", ts)
}

// goAway abandons the streams a GOAWAY from side s says were never
// processed: those the receiver opened above lastID.
func (c *Parser) goAway(s *side, lastID uint32, ts time.Time) {
	if c.isClient(s) {
		return
	}
	for id, st := range c.streams {
		if id > lastID && id%2 == 1 {
			c.abandon(st, metrics.ReasonNoResponse, ts)
		}
	}
}
