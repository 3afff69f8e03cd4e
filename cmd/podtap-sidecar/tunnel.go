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
	if libs, _ := config.ParseTLS(cfg.Capture.TLS); len(libs) > 0 {
		// The webhook never sets both; a hand-written config may. TLS
		// plaintext is not packets, so the tunnel cannot carry it.
		slog.Warn("TLS capture is off in tunnel mode: the tunnel forwards packets only; run mode parse to capture TLS plaintext",
			"setting", "capture.tls", "value", cfg.Capture.TLS, "reason", "tunnel_mode")
	}
	slog.Info("capturing for the tunnel", append(what, "target", cfg.Tunnel.Target, "vni", cfg.Tunnel.VNI, "version", version)...)
	capturing.Store(true)
	defer capturing.Store(false)
	return tunnel.New(cfg.Tunnel).Run(ctx, src)
}
