package sidecarcmd

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/tlscapture"
)

// StartTLS turns TLS plaintext capture on when capture.tls asks for it and
// runs it beside packet capture until Close. It cannot fail the sidecar:
// when the kernel refuses the probes (capabilities, no BTF) it says why in
// a WARN and packet capture goes on alone, still counting the TLS it
// cannot read.
func (s *Session) StartTLS(ctx context.Context) {
	libs, _ := config.ParseTLS(s.cfg.Capture.TLS) // validated by config
	if len(libs) == 0 {
		return
	}
	src, err := tlscapture.Open(tlscapture.Options{
		Libraries:      libs,
		IdleTimeout:    s.cfg.Flow.IdleTimeout,
		FlushInterval:  s.cfg.Flow.FlushInterval,
		MaxConnections: s.cfg.Flow.MaxConnections,
		RingBytes:      uint32(s.cfg.Capture.TLSRingBytes), // at most 1Gi, validated by config
	})
	if err != nil {
		slog.Warn("tls capture is off: packets only", "reason", tlsOpenReason(err), "capture_tls", s.cfg.Capture.TLS,
			"needs", "CAP_"+strings.Join(config.TLSCaptureCapabilities, ", CAP_")+", /sys/kernel/btf/vmlinux and a PID namespace shared with the application", "err", err)
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.stopTLS = func() { cancel(); <-done; src.Close() }
	ring, err := src.RingBytes()
	if err != nil {
		slog.Warn("tls capture cannot read its ring buffer's size", "err", err)
	}
	slog.Info("tls capture on", "libraries", libs, "probed", src.Attached(), "ring_bytes", ring)
	go func() {
		defer close(done)
		if err := s.pipeline.RunTLS(ctx, src); err != nil {
			slog.Warn("tls capture stopped: packets only", "reason", "read_failed", "err", err)
		}
	}()
}

// tlsOpenReason is the stable word the WARN of a refused TLS capture
// carries, for grep.
func tlsOpenReason(err error) string {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return "missing_capability"
	case errors.Is(err, btf.ErrNotFound), errors.Is(err, btf.ErrNotSupported):
		return "no_btf"
	}
	return "load_failed"
}
