package sidecarcmd

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar/metrics"
)

// TestProbe runs the exec probe's check against the sidecar's real
// endpoint, bound as in a pod to all addresses and reached over loopback.
func TestProbe(t *testing.T) {
	port := strconv.Itoa(testenv.FreePort(t, "127.0.0.1"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var capturing atomic.Bool
	err := metrics.Serve(ctx, ":"+port,
		metrics.Check{Name: "capture", Fn: func() error {
			if !capturing.Load() {
				return errors.New("capture is not running")
			}
			return nil
		}},
		metrics.Check{Name: "sink", Fn: func() error { return errors.New("kafka: no broker answers") }})
	if err != nil {
		t.Fatal(err)
	}
	var liveErr error
	for range 100 {
		if liveErr = Probe(ctx, ":"+port, config.ProbeLive); liveErr == nil {
			break
		}
	}
	if liveErr != nil {
		t.Fatalf("live: %v", liveErr)
	}
	if err := Probe(ctx, ":"+port, config.ProbeReady); err == nil || !strings.Contains(err.Error(), "capture is not running") {
		t.Fatalf("ready before capture: %v, want the capture check's failure", err)
	}
	capturing.Store(true)
	if err := Probe(ctx, "0.0.0.0:"+port, config.ProbeReady); err != nil {
		t.Fatalf("ready while capturing, with the sink down (excluded): %v", err)
	}
	if err := Probe(ctx, ":"+port, "startup"); err == nil {
		t.Fatal("an unknown probe kind passed")
	}
}
