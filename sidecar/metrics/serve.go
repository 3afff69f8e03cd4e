package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness check of /readyz.
type Check struct {
	Name string
	Fn   func() error
}

// Serve serves /metrics, /healthz and /readyz on addr until ctx is done.
// /healthz only says the process answers. /readyz runs every check; as on
// the Kubernetes API server, `?exclude=NAME` leaves a check out. The pod's
// readiness probe excludes the sink: a Kafka outage must never take the
// application out of its Service, while operators still see the sink's
// state on /readyz.
//
// A port already taken (an application listening on it without declaring
// it) never stops the sidecar: capture goes on, a WARN names the port and
// metrics.addr, and the listen is retried every ListenRetry until it
// succeeds, which is logged at INFO. Only an address that can never be
// listened on is an error.
//
// The same endpoint is served on HealthSocket(addr) too, which no
// application can hold: the injected exec probes ask there.
func Serve(ctx context.Context, addr string, checks ...Check) error {
	sock, err := HealthSocket(addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(Registry, promhttp.HandlerOpts{Registry: Registry}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		excluded := map[string]bool{}
		for _, name := range r.URL.Query()["exclude"] {
			excluded[name] = true
		}
		var report strings.Builder
		failed := false
		for _, c := range checks {
			if excluded[c.Name] {
				// Not run: the probe that excludes the sink is the
				// kubelet's, every few seconds.
				fmt.Fprintf(&report, "[+]%s excluded\n", c.Name)
				continue
			}
			if err := c.Fn(); err != nil {
				failed = true
				fmt.Fprintf(&report, "[-]%s failed: %v\n", c.Name, err)
				continue
			}
			fmt.Fprintf(&report, "[+]%s ok\n", c.Name)
		}
		if failed {
			http.Error(w, report.String()+"not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(report.String() + "ok\n"))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if sl, err := net.Listen("unix", sock); err != nil {
		slog.Warn("metrics: cannot listen on the probes' socket, so the injected probes fail",
			"socket", sock, "setting", "metrics.addr", "err", err)
	} else {
		go serve(srv, sl, sock)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		slog.Warn("metrics: cannot listen, so /metrics is not served on this port; capture goes on, the probes' socket answers, and the listen is retried",
			"addr", addr, "setting", "metrics.addr", "retry", ListenRetry, "err", err)
		go func() {
			if ln := retryListen(ctx, addr); ln != nil {
				slog.Info("metrics: listening after all", "addr", addr)
				serve(srv, ln, addr)
			}
		}()
		return nil
	}
	go serve(srv, ln, addr)
	return nil
}

// HealthSocket is the abstract unix socket Serve answers on besides addr,
// named after addr's port. Abstract names belong to the network namespace,
// so `podtap-sidecar probe`, run by the kubelet inside the sidecar's
// container, reaches it, and nothing outside the pod does. A TCP port an
// application took without declaring it would otherwise answer the probes
// in podtap's place: its 404 on /readyz kept the pod NotReady.
func HealthSocket(addr string) (string, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("metrics: listening on %s (metrics.addr): %w", addr, err)
	}
	return "@podtap-sidecar.health." + port, nil
}

// ListenRetry is how often a failed metrics listen is retried.
var ListenRetry = 30 * time.Second

func retryListen(ctx context.Context, addr string) net.Listener {
	t := time.NewTicker(ListenRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if ln, err := net.Listen("tcp", addr); err == nil {
			return ln
		}
	}
}

func serve(srv *http.Server, ln net.Listener, addr string) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		slog.Error("metrics server stopped", "addr", addr, "err", err)
	}
}
