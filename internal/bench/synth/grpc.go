package synth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/podtap/podtap/internal/bench/load"
	"github.com/podtap/podtap/internal/grpcdemo"
)

// GRPCTraffic is the gRPC call mix of a capture: unary SayHello calls and
// the three streaming kinds, over a few connections each carrying many
// concurrent streams.
type GRPCTraffic struct {
	Calls       int `json:"calls"`
	Conns       int `json:"conns"`
	Concurrency int `json:"concurrency"`
	// BlobBytes is the size of each request's bytes field.
	BlobBytes int `json:"blob_bytes"`
}

// callName marks call i's first request message; the check finds each
// call's pair by it.
func callName(i int) string { return "call-" + strconv.Itoa(i) }

// call makes call i: 7 in 10 unary, the rest server, client and bidi
// streaming in turn.
func (t GRPCTraffic) call(ctx context.Context, c *grpcdemo.Client, s *grpcdemo.Schema, i int) error {
	blob := make([]byte, t.BlobBytes)
	for k := range blob {
		blob[k] = byte(i + k)
	}
	name := callName(i)
	var err error
	switch i % 10 {
	case 7:
		_, err = c.StreamReplies(ctx, s.NewRequest(name, 5, nil))
	case 8:
		_, err = c.CollectNames(ctx, []*dynamicpb.Message{s.NewRequest(name, 0, blob), s.NewRequest(name+"-b", 0, blob), s.NewRequest(name+"-c", 0, nil)})
	case 9:
		_, err = c.Chat(ctx, []*dynamicpb.Message{s.NewRequest(name, 0, nil), s.NewRequest(name+"-b", 0, nil)})
	default:
		_, err = c.SayHello(ctx, s.NewRequest(name, 1, blob, grpcdemo.TagEcho))
	}
	if err != nil {
		return fmt.Errorf("call %d: %w", i, err)
	}
	return nil
}

// recordGRPC runs the calls against an in-process greeter and writes what
// the clients saw as a capture to out.
func recordGRPC(ctx context.Context, t GRPCTraffic, out io.Writer, seed uint64) (Stats, error) {
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		return Stats{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Stats{}, fmt.Errorf("listening: %w", err)
	}
	srv := grpcdemo.NewServer(schema, grpcdemo.ServerOptions{})
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	stats, err := recordTraffic(out, seed, func(rec *recorder) error {
		var next atomic.Int64
		return load.Parallel(ctx, t.Conns, func(ctx context.Context, _ int) error {
			cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(),
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
					return rec.dial(ctx, "tcp", addr)
				}))
			if err != nil {
				return fmt.Errorf("grpc client: %w", err)
			}
			defer cc.Close()
			client := grpcdemo.NewClient(cc, schema)
			return load.Parallel(ctx, t.Concurrency, func(ctx context.Context, _ int) error {
				for {
					i := int(next.Add(1))
					if i > t.Calls {
						return nil
					}
					if err := t.call(ctx, client, schema, i); err != nil {
						return err
					}
				}
			})
		})
	})
	srv.Stop()
	if err := errors.Join(err, <-serveErr); err != nil {
		return Stats{}, err
	}
	return stats, nil
}
