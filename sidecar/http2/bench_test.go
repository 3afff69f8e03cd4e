package http2

import (
	"fmt"
	"testing"

	"github.com/podtap/podtap/sidecar/message"
)

// releasedHalves gives each half's lent buffer back at once, as the
// pipeline does once the half's pair is encoded.
type releasedHalves struct{ resps int }

func (*releasedHalves) Request(r *message.Request) { (&message.Pair{Request: r}).Release() }

func (h *releasedHalves) Response(r *message.Response) {
	h.resps++
	(&message.Pair{Response: r}).Release()
}

// BenchmarkGRPCUnary parses a connection of unary gRPC calls as grpc-go
// writes them (HPACK-indexed headers, one message each way, trailers).
func BenchmarkGRPCUnary(b *testing.B) {
	const calls = 1000
	w := newWire(b)
	msg := make([]byte, 200)
	for i := range calls {
		id := uint32(2*i + 1)
		w.headers(true, id, false, grpcReq("/bench.Svc/Call", "grpc-timeout", fmt.Sprintf("%dm", 1000+i%7))...)
		w.data(true, id, true, grpcFrame(b, msg, false))
		w.headers(false, id, false, ":status", "200", "content-type", "application/grpc")
		w.data(false, id, false, grpcFrame(b, msg, false))
		w.headers(false, id, true, "grpc-status", "0")
	}
	bytes := 0
	for _, s := range w.segs {
		bytes += len(s.b)
	}
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h := &releasedHalves{}
		c := NewParser(Options{}, h)
		feed(c, w.segs, t0)
		c.Close(t0)
		if h.resps != calls {
			b.Fatalf("%d pairs, want %d", h.resps, calls)
		}
	}
	b.ReportMetric(float64(calls*b.N)/b.Elapsed().Seconds(), "pairs/s")
	b.ReportMetric(0, "ns/op")
}
