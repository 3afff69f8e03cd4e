package main

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/tunnel"
)

// runTunnel sends the captured packets to the receiver instead of parsing
// them; the sidecar then has no sink, and /readyz reports the capture.
func runTunnel(ctx context.Context, cfg config.Sidecar, what []any, src capture.Source) error {
	var capturing atomic.Bool
	if cfg.Metrics.Addr != "" {
		err := metrics.Serve(ctx, cfg.Metrics.Addr, metrics.Check{Name: "capture", Fn: func() error {
			if !capturing.Load() {
				return errors.New("capture is not running")
			}
			return nil
		}})
		if err != nil {
			return err
		}
	}
	slog.Info("capturing for the tunnel", append(what, "target", cfg.Tunnel.Target, "vni", cfg.Tunnel.VNI, "version", version)...)
	capturing.Store(true)
	defer capturing.Store(false)
	return tunnel.New(cfg.Tunnel).Run(ctx, src)
}
