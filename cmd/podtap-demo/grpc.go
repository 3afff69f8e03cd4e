package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/podtap/podtap/internal/grpcdemo"
)

// demoGRPCPort serves the demo's gRPC greeter, with reflection, in the pod.
const demoGRPCPort = "50051"

// startDemoGRPC serves the greeter on ln with reflection v1 and v1alpha, so
// the sidecar decodes its messages to JSON by asking the server itself.
func startDemoGRPC(ln net.Listener) (*grpcdemo.Server, *grpcdemo.Schema, error) {
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		return nil, nil, err
	}
	srv := grpcdemo.NewServer(schema, grpcdemo.ServerOptions{ReflectionV1: true, ReflectionV1Alpha: true})
	go func() { _ = srv.Serve(ln) }()
	return srv, schema, nil
}

// driveGRPC makes one call of each kind, and one that fails, over one
// HTTP/2 connection.
func driveGRPC(ctx context.Context, target string, schema *grpcdemo.Schema, stderr io.Writer) (int, error) {
	cc, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, fmt.Errorf("demo gRPC: %w", err)
	}
	defer cc.Close()
	c := grpcdemo.NewClient(cc, schema)
	req := func(name string) *dynamicpb.Message { return schema.NewRequest(name, 3, nil, "demo") }
	calls := []struct {
		name string
		do   func() error
	}{
		{"unary SayHello", func() error { _, err := c.SayHello(ctx, req("ada")); return err }},
		{"server-streaming StreamReplies", func() error { _, err := c.StreamReplies(ctx, req("grace")); return err }},
		{"client-streaming CollectNames", func() error {
			_, err := c.CollectNames(ctx, []*dynamicpb.Message{req("linus"), req("ken"), req("rob")})
			return err
		}},
		{"bidi-streaming Chat", func() error {
			_, err := c.Chat(ctx, []*dynamicpb.Message{req("barbara"), req("frances")})
			return err
		}},
		{"failing SayHello (INVALID_ARGUMENT)", func() error {
			_, err := c.SayHello(ctx, req(grpcdemo.NameInvalid))
			if status.Code(err) == codes.InvalidArgument {
				return nil
			}
			return errors.Join(errors.New("want INVALID_ARGUMENT"), err)
		}},
	}
	for _, call := range calls {
		if err := call.do(); err != nil {
			return 0, fmt.Errorf("demo gRPC %s: %w", call.name, err)
		}
	}
	fmt.Fprintf(stderr, "podtap demo: made %d gRPC calls\n", len(calls))
	return len(calls), nil
}
