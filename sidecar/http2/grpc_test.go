package http2

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

func grpcReq(path string, extra ...string) []string {
	return append(reqFields("POST", path, "content-type", "application/grpc", "te", "trailers", "user-agent", "grpc-go/1.85.0"), extra...)
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestGRPCCalls(t *testing.T) {
	m := func(s string) []byte { return []byte(s) }
	w := newWire(t)
	// Unary.
	w.headers(true, 1, false, grpcReq("/greet.Greeter/SayHello")...)
	w.data(true, 1, true, grpcFrame(t, m("\x0a\x03bob"), false))
	w.headers(false, 1, false, ":status", "200", "content-type", "application/grpc+proto")
	w.data(false, 1, false, grpcFrame(t, m("\x0a\x09hello bob"), false))
	w.headers(false, 1, true, "grpc-status", "0", "grpc-message", "")
	// Server streaming, messages split across and packed into frames.
	w.headers(true, 3, false, grpcReq("/greet.Greeter/Many")...)
	w.data(true, 3, true, grpcFrame(t, m("\x08\x03"), false))
	w.headers(false, 3, false, ":status", "200", "content-type", "application/grpc")
	stream := concat(grpcFrame(t, m("one"), false), grpcFrame(t, m("two"), false), grpcFrame(t, m("three"), false))
	w.data(false, 3, false, stream[:4])
	w.data(false, 3, false, stream[4:11])
	w.data(false, 3, false, stream[11:])
	w.headers(false, 3, true, "grpc-status", "0")
	// Client streaming with gzip-compressed messages.
	w.headers(true, 5, false, grpcReq("/greet.Greeter/Upload", "grpc-encoding", "gzip", "grpc-accept-encoding", "gzip")...)
	w.data(true, 5, false, grpcFrame(t, bytes.Repeat(m("a"), 1000), true))
	w.data(true, 5, false, grpcFrame(t, m("plain"), false))
	w.data(true, 5, true, grpcFrame(t, bytes.Repeat(m("b"), 2000), true))
	w.headers(false, 5, false, ":status", "200", "content-type", "application/grpc", "grpc-encoding", "gzip")
	w.data(false, 5, false, grpcFrame(t, m("done"), true))
	w.headers(false, 5, true, "grpc-status", "0")
	// A trailers-only error.
	w.headers(true, 7, false, grpcReq("/greet.Greeter/Nope")...)
	w.data(true, 7, true, grpcFrame(t, nil, false))
	w.headers(false, 7, true, ":status", "200", "content-type", "application/grpc", "grpc-status", "12", "grpc-message", "unknown%20method")
	// An encoding podtap cannot decode.
	w.headers(true, 9, false, grpcReq("/greet.Greeter/Snappy", "grpc-encoding", "snappy")...)
	w.data(true, 9, true, concat([]byte{1, 0, 0, 0, 3}, m("xyz")))
	w.headers(false, 9, true, ":status", "200", "content-type", "application/grpc", "grpc-status", "0")
	// Bidi, cancelled by the client after two responses.
	w.headers(true, 11, false, grpcReq("/greet.Greeter/Chat")...)
	w.data(true, 11, false, grpcFrame(t, m("hi"), false))
	w.headers(false, 11, false, ":status", "200", "content-type", "application/grpc")
	w.data(false, 11, false, grpcFrame(t, m("r1"), false))
	w.data(true, 11, false, grpcFrame(t, m("again"), false))
	w.data(false, 11, false, grpcFrame(t, m("r2"), false))
	w.must(w.cf.WriteRSTStream(11, 0x8))

	rec := parseAll(t, Options{}, w.segs)

	msgs := func(ms [][]byte) string { return fmt.Sprintf("%q", ms) }
	p := rec.byID(1)
	if p.req.Proto != message.ProtoGRPC || p.resp.Proto != message.ProtoGRPC || p.req.Body != nil {
		t.Errorf("unary protos %q %q", p.req.Proto, p.resp.Proto)
	}
	if msgs(p.req.Messages) != `["\n\x03bob"]` || msgs(p.resp.Messages) != `["\n\thello bob"]` || p.resp.Trailers.Get("grpc-status") != "0" {
		t.Errorf("unary: %s %s %+v", msgs(p.req.Messages), msgs(p.resp.Messages), p.resp.Trailers)
	}
	if p.req.BodySize != 5 || p.resp.BodySize != 11 {
		t.Errorf("unary sizes %d %d", p.req.BodySize, p.resp.BodySize)
	}
	if p := rec.byID(3); msgs(p.resp.Messages) != `["one" "two" "three"]` {
		t.Errorf("server streaming: %s", msgs(p.resp.Messages))
	}
	p = rec.byID(5)
	if len(p.req.Messages) != 3 || !bytes.Equal(p.req.Messages[0], bytes.Repeat(m("a"), 1000)) ||
		string(p.req.Messages[1]) != "plain" || !bytes.Equal(p.req.Messages[2], bytes.Repeat(m("b"), 2000)) {
		t.Errorf("compressed client stream: %d messages", len(p.req.Messages))
	}
	if msgs(p.resp.Messages) != `["done"]` {
		t.Errorf("compressed response: %s", msgs(p.resp.Messages))
	}
	p = rec.byID(7)
	if p.resp.Drop != "" || p.resp.Headers.Get("grpc-status") != "12" || len(p.resp.Trailers) != 0 || len(p.req.Messages) != 1 {
		t.Errorf("trailers-only: %+v", p.resp)
	}
	if p := rec.byID(9); p.req.Drop != metrics.ReasonGRPCEncoding {
		t.Errorf("snappy: drop %q", p.req.Drop)
	}
	p = rec.byID(11)
	if p.resp.Drop != "" || !slices.Contains(p.resp.Flags, message.FlagReset) || msgs(p.resp.Messages) != `["r1" "r2"]` || msgs(p.req.Messages) != `["hi" "again"]` {
		t.Errorf("cancelled bidi: drop %q flags %v %s %s", p.resp.Drop, p.resp.Flags, msgs(p.req.Messages), msgs(p.resp.Messages))
	}
}

func TestGRPCLimits(t *testing.T) {
	w := newWire(t)
	w.headers(true, 1, false, grpcReq("/s.S/Big")...)
	w.data(true, 1, true, grpcFrame(t, make([]byte, 600<<10), false))
	w.headers(false, 1, true, ":status", "200", "content-type", "application/grpc", "grpc-status", "8")
	w.headers(true, 11, false, grpcReq("/s.S/Fits")...)
	w.data(true, 11, true, grpcFrame(t, []byte("small"), false))
	w.headers(false, 11, false, ":status", "200", "content-type", "application/grpc")
	w.data(false, 11, false, grpcFrame(t, make([]byte, 500<<10), false))
	w.headers(false, 11, true, "grpc-status", "0")
	w.headers(true, 3, false, grpcReq("/s.S/Bomb", "grpc-encoding", "gzip")...)
	w.data(true, 3, true, grpcFrame(t, make([]byte, 2<<20), true))
	w.headers(false, 3, true, ":status", "200", "content-type", "application/grpc", "grpc-status", "0")
	w.headers(true, 5, false, grpcReq("/s.S/Cut")...)
	w.data(true, 5, true, concat(grpcFrame(t, []byte("whole"), false), []byte{0, 0, 0, 0, 9, 'p'}))
	w.headers(false, 5, true, ":status", "200", "content-type", "application/grpc", "grpc-status", "0")

	rec := newRecorder(t)
	c := NewParser(Options{MaxBodyBytes: 512 << 10}, rec)
	feed(c, w.segs, t0)
	p := rec.byID(1)
	if p.req.Drop != metrics.ReasonTooLarge || p.req.Messages != nil {
		t.Errorf("600 KiB message over a 512 KiB limit: drop %q", p.req.Drop)
	}
	if p := rec.byID(11); p.resp.Drop != "" || len(p.resp.Messages) != 1 || len(p.resp.Messages[0]) != 500<<10 {
		t.Errorf("500 KiB message: drop %q, %d messages", p.resp.Drop, len(p.resp.Messages))
	}
	if p := rec.byID(3); p.req.Drop != metrics.ReasonTooLarge {
		t.Errorf("2 MiB decompressed: drop %q", p.req.Drop)
	}
	if p := rec.byID(5); p.req.Drop != "" || len(p.req.Messages) != 1 || !slices.Contains(p.req.Flags, message.FlagGRPCTruncated) {
		t.Errorf("truncated: drop %q messages %d flags %v", p.req.Drop, len(p.req.Messages), p.req.Flags)
	}
}
