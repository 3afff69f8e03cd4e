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
func Serve(ctx context.Context, addr string, checks ...Check) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listening on %s (metrics.addr): %w", addr, err)
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
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("metrics server stopped", "addr", addr, "err", err)
		}
	}()
	return nil
}
