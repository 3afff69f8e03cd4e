package sidecarcmd

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
	if err := Probe(ctx, ":"+port, "bogus"); err == nil {
		t.Fatal("an unknown probe kind passed")
	}
}

// TestProbeStartupGivesWay: the startup probe waits for capture, and when
// nothing answers it still succeeds after its bound, so a broken sidecar
// never keeps the application from starting.
func TestProbeStartupGivesWay(t *testing.T) {
	port := strconv.Itoa(testenv.FreePort(t, "127.0.0.1"))
	start := time.Now()
	if err := probeStartup(context.Background(), ":"+port, 300*time.Millisecond); err != nil {
		t.Fatalf("startup with nothing listening: %v", err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("gave way after %s, before its bound", waited)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var capturing atomic.Bool
	if err := metrics.Serve(ctx, ":"+port, metrics.Check{Name: "capture", Fn: func() error {
		if !capturing.Load() {
			return errors.New("capture is not running")
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(200*time.Millisecond, func() { capturing.Store(true) })
	start = time.Now()
	if err := probeStartup(ctx, ":"+port, time.Minute); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond || waited > 30*time.Second {
		t.Fatalf("startup passed after %s, want once capture runs (200ms)", waited)
	}
}

// TestProbeAnswersWhenAnAppHoldsThePort: an application listens on the
// sidecar's port without declaring it, first, and answers 404 to what it
// does not serve. The probes must still reach the sidecar, or the pod would
// stay NotReady over a port podtap only needs for its metrics.
func TestProbeAnswersWhenAnAppHoldsThePort(t *testing.T) {
	app, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	appSrv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Second}
	go func() { _ = appSrv.Serve(app) }()
	t.Cleanup(func() { _ = appSrv.Close() })
	port := strconv.Itoa(app.Addr().(*net.TCPAddr).Port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := metrics.Serve(ctx, ":"+port, metrics.Check{Name: "capture", Fn: func() error { return nil }}); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get("http://127.0.0.1:" + port + ProbePaths[config.ProbeReady]); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the application does not hold the port: %v %v", resp, err)
	}
	for _, kind := range []string{config.ProbeLive, config.ProbeReady} {
		var perr error
		for range 50 {
			if perr = Probe(ctx, ":"+port, kind); perr == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if perr != nil {
			t.Errorf("probe %s with the application on :%s: %v", kind, port, perr)
		}
	}
}
