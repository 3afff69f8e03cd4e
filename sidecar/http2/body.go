package http2

import (
	"errors"
	"time"

	"github.com/podtap/podtap/sidecar/bufpool"
	"github.com/podtap/podtap/sidecar/content"
	"github.com/podtap/podtap/sidecar/grpcwire"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

// decoded is a half's body as handed on: body for HTTP, msgs for gRPC.
// lent is the pooled buffer they point into, if they do, which the half
// hands on with its pair (see message.Pair.Release).
type decoded struct {
	body  []byte
	msgs  [][]byte
	lent  []byte
	size  int64
	drop  string
	flags []string
}

// decodeBody undoes the content or gRPC encoding of a finished half; a
// gRPC body's messages go into msgs' room. The half's buffer is either
// lent with the result or back in the pool.
func (c *Parser) decodeBody(h *half, isGRPC bool, hdrs message.Headers, msgs [][]byte) decoded {
	d := c.decodeKept(h, isGRPC, hdrs, msgs)
	if d.lent == nil {
		bufpool.Put(h.body)
	}
	h.body = nil
	return d
}

func (c *Parser) decodeKept(h *half, isGRPC bool, hdrs message.Headers, msgs [][]byte) decoded {
	d := decoded{size: h.size, drop: h.drop}
	if d.drop != "" || !h.keep || len(h.body) == 0 {
		return d
	}
	if isGRPC {
		msgs, err := grpcwire.Unframe(msgs, h.body, hdrs.Get("grpc-encoding"), c.opts.MaxBodyBytes)
		d.msgs = msgs
		d.size = 0
		for _, m := range msgs {
			d.size += int64(len(m))
		}
		switch {
		case err == nil:
		case errors.Is(err, grpcwire.ErrTruncated):
			d.flags = append(d.flags, message.FlagGRPCTruncated)
		case errors.Is(err, grpcwire.ErrEncoding):
			d.drop = metrics.ReasonGRPCEncoding
		case errors.Is(err, grpcwire.ErrTooLarge):
			d.drop = metrics.ReasonTooLarge
		default:
			metrics.ParseErrors.WithLabelValues("grpc", "framing").Inc()
			d.drop = metrics.ReasonParseError
		}
		if d.drop != "" || len(d.msgs) == 0 {
			d.msgs = nil
			return d
		}
		d.lent = h.body
		return d
	}
	enc := hdrs.Get("content-encoding")
	if content.Identity(enc) {
		d.body, d.lent = h.body, h.body
		return d
	}
	body, err := content.Decode(enc, h.body, c.opts.MaxBodyBytes)
	switch {
	case err == nil:
		d.body = body
		d.size = int64(len(body))
	case errors.Is(err, content.ErrTooLarge):
		d.drop = metrics.ReasonTooLarge
	default:
		// An unknown or broken coding: the bytes as sent are still the
		// message, flagged.
		d.body, d.lent = h.body, h.body
		d.flags = append(d.flags, message.FlagBodyUndecoded)
	}
	return d
}

// finishRequest fills in a request half from its stream when the stream
// ends.
func (c *Parser) finishRequest(st *stream, req *message.Request, ts time.Time) {
	req.Proto = c.proto(st)
	if !st.in.end.IsZero() {
		req.End = st.in.end
	}
	d := c.decodeBody(&st.in, st.grpc, req.Headers, req.Messages)
	// An upgraded request's body is HTTP/2's now, not HTTP/1's.
	req.Body, req.Messages, req.BodySize = d.body, d.msgs, d.size
	req.Lent, req.ReleaseBody = lend(d.lent)
	req.Flags = append(req.Flags, d.flags...)
	if req.Drop == "" {
		req.Drop = d.drop
	}
	if !st.in.done && st.req != nil {
		req.Truncated = true
	}
}

// finishResponse fills in a response half from its stream when the stream
// ends.
func (c *Parser) finishResponse(st *stream, resp *message.Response, ts time.Time) {
	resp.Proto = c.proto(st)
	resp.End = ts
	if !st.out.end.IsZero() {
		resp.End = st.out.end
	}
	d := c.decodeBody(&st.out, st.grpc, resp.Headers, resp.Messages)
	resp.Body, resp.Messages, resp.BodySize = d.body, d.msgs, d.size
	resp.Lent, resp.ReleaseBody = lend(d.lent)
	resp.Flags = append(resp.Flags, d.flags...)
	if resp.Drop == "" {
		resp.Drop = d.drop
	}
}

// lend is what a half hands on with its pooled buffer b, if any.
func lend(b []byte) ([]byte, func([]byte)) {
	if b == nil {
		return nil, nil
	}
	return b, bufpool.Put
}

func (c *Parser) proto(st *stream) string {
	if st.grpc {
		return message.ProtoGRPC
	}
	return message.ProtoH2
}
