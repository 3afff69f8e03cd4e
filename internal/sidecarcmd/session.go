// Package sidecarcmd is what podtap-sidecar and podtap-demo share: the
// pipeline flags, loading the configuration they set, and the session that
// runs the pipeline into its sink.
package sidecarcmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/sink"
)

// OpenSink makes the configured sink.
func OpenSink(ctx context.Context, cfg config.Sidecar) (sink.Sink, error) {
	switch cfg.Sink.Type {
	case "stdout":
		return sink.Stdout(), nil
	case "file":
		return sink.File(cfg.Sink.Path)
	case "kafka":
		return sink.NewKafka(cfg.Kafka, cfg.Pod, slog.Default())
	}
	return nil, fmt.Errorf("sink.type %q is not supported", cfg.Sink.Type)
}

// PodIPs parses the configured pod addresses (validated by config).
func PodIPs(cfg config.Sidecar) []netip.Addr {
	var ips []netip.Addr
	for _, s := range cfg.Pod.IPs {
		if ip, err := netip.ParseAddr(s); err == nil {
			ips = append(ips, ip)
		}
	}
	return ips
}

// Session is one pipeline with its sink and metrics endpoint, ready while
// it captures.
type Session struct {
	cfg       config.Sidecar
	sink      sink.Sink
	pipeline  *sidecar.Pipeline
	capturing atomic.Bool
	// stopTLS ends TLS capture (StartTLS); nil when it is off.
	stopTLS func()
	// coverage sends the coverage reports; nil when they are off.
	coverage *coverageReports
}

// Run captures from src; /readyz reports the capture as running meanwhile.
func (s *Session) Run(ctx context.Context, src capture.Source) error {
	s.capturing.Store(true)
	defer s.capturing.Store(false)
	return s.pipeline.Run(ctx, src)
}

func (s *Session) captureReady() error {
	if !s.capturing.Load() {
		return errors.New("capture is not running")
	}
	return nil
}

// Start opens the sink, builds the pipeline and serves metrics.addr.
func Start(ctx context.Context, cfg config.Sidecar, where sidecar.Where) (*Session, error) {
	out, err := OpenSink(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p, err := sidecar.New(cfg, out, where)
	if err != nil {
		_ = out.Close(ctx)
		return nil, err
	}
	s := &Session{cfg: cfg, sink: out, pipeline: p}
	if s.coverage, err = startCoverage(ctx, cfg, p.Coverage()); err != nil {
		s.Close()
		return nil, err
	}
	if cfg.Metrics.Addr != "" {
		err := metrics.Serve(ctx, cfg.Metrics.Addr,
			metrics.Check{Name: "capture", Fn: s.captureReady},
			metrics.Check{Name: "sink", Fn: out.Ready})
		if err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close drains the pipeline, then gives the sink its grace period, and
// sends a last coverage report with the counts up to the end.
func (s *Session) Close() error {
	if s.stopTLS != nil {
		s.stopTLS()
	}
	s.pipeline.Close()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Kafka.ShutdownGrace)
	defer cancel()
	if s.coverage != nil {
		defer s.coverage.close(ctx)
	}
	if err := s.sink.Close(ctx); err != nil && !errors.Is(err, context.Canceled) {
		slog.Error("closing sink", "err", err)
		return err
	}
	return nil
}
