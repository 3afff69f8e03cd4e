package sidecarcmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/metrics"
)

// Probe paths of the sidecar's endpoint, by the name `podtap-sidecar probe`
// takes. Readiness leaves the sink out, as the injected probe always has.
var ProbePaths = map[string]string{
	config.ProbeLive:  "/healthz",
	config.ProbeReady: "/readyz?exclude=sink",
}

// probeTimeout stays under the injected probes' timeoutSeconds.
const probeTimeout = 1500 * time.Millisecond

// Probe asks the sidecar's own endpoint, from inside its container, on its
// abstract unix socket (metrics.HealthSocket). A kubelet HTTP probe comes in
// through eth0, where a mesh's iptables redirect it to a proxy that demands
// mTLS (Istio STRICT); and the TCP port may be an application's that
// listens on it without declaring it, which would answer in podtap's place.
// The socket is the sidecar's alone and no redirect touches it.
func Probe(ctx context.Context, metricsAddr, kind string) error {
	if kind == config.ProbeStartup {
		return probeStartup(ctx, metricsAddr, config.StartupWait)
	}
	path, ok := ProbePaths[kind]
	if !ok {
		return fmt.Errorf("probe %q: want live, ready or startup", kind)
	}
	sock, err := metrics.HealthSocket(metricsAddr)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://podtap-sidecar"+path, nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", kind, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s: %s: %s", kind, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// probeStartup waits for readiness and gives way after wait: a startup
// probe that fails keeps a native sidecar's pod from ever starting its
// application, which podtap must never do.
func probeStartup(ctx context.Context, metricsAddr string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := Probe(ctx, metricsAddr, config.ProbeReady)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			slog.Warn("capture is not ready; letting the pod's containers start without waiting longer", "waited", wait, "err", err)
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}
