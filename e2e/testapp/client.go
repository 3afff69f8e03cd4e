package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/podtap/podtap/internal/grpcdemo"
)

// client is the workload's caller: it orders from the server by its
// Service name, one numbered call after another (seq=1 is its first
// answered call, the one a sidecar started late would miss), and greets it
// over gRPC every tenth call.
func client(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	httpBase := fs.String("http", "http://checkout", "base URL of the HTTP service")
	grpcAddr := fs.String("grpc", "checkout:9000", "address of the gRPC greeter")
	every := fs.Duration("every", time.Second, "pause between calls")
	if err := fs.Parse(args); err != nil {
		return err
	}
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		return err
	}
	cc, err := grpc.NewClient(*grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("--grpc %q: %w", *grpcAddr, err)
	}
	defer cc.Close()
	greeter := grpcdemo.NewClient(cc, schema)
	hc := &http.Client{Timeout: 5 * time.Second}
	for seq := 1; ; {
		if err := call(ctx, hc, fmt.Sprintf("%s/api/orders?seq=%d", *httpBase, seq)); err != nil {
			slog.Warn("call failed, retrying", "seq", seq, "err", err)
		} else {
			if seq%10 == 1 {
				if _, err := greeter.SayHello(ctx, schema.NewRequest(fmt.Sprintf("client-%d", seq), 1, nil)); err != nil {
					slog.Warn("SayHello failed", "seq", seq, "err", err)
				}
			}
			seq++
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*every):
		}
	}
}

func call(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}
