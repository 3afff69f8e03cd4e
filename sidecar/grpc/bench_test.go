package grpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/podtap/podtap/internal/grpcdemo"
)

// BenchmarkGRPCReplay replays a recorded grpc-go connection of unary calls
// through the stages after reassembly: HTTP/2 parsing, gRPC unframing,
// pairing, and decoding every message to JSON with a descriptor set.
func BenchmarkGRPCReplay(b *testing.B) {
	const calls = 500
	schema, proxy, cc := proxiedServer(b, grpcdemo.ServerOptions{})
	cl := grpcdemo.NewClient(cc, schema)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range calls {
		req := schema.NewRequest("bench", int32(i), []byte("0123456789abcdef0123456789abcdef"), "a", "b")
		if _, err := cl.SayHello(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	cc.Close()
	proxy.waitIdle(b)
	recorded := proxy.take()
	bytes := 0
	for _, c := range recorded {
		bytes += len(c.b)
	}

	cfg := liveConfig()
	cfg.GRPC.DescriptorSets = []string{protosetFile(b, schema, true)}
	st := newStages(b, cfg)
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		st.replay(b, recorded, proxy.addr())
		for range calls {
			p := <-st.out
			if len(p.GRPC.ResponseJSON) != 1 {
				b.Fatalf("not decoded: %v", p.Flags)
			}
			// As the pipeline does once the pair is encoded.
			p.Release()
		}
	}
	b.ReportMetric(float64(calls*b.N)/b.Elapsed().Seconds(), "pairs/s")
	b.ReportMetric(0, "ns/op")
}
