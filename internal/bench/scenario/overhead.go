package scenario

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/podtap/podtap/internal/bench/host"
	"github.com/podtap/podtap/internal/bench/load"
	"github.com/podtap/podtap/internal/bench/report"
)

// Overhead measures what capturing costs the application: the
// server's requests per second at full load, without and with the sidecar
// capturing (confined to its CPU limit, as in a pod), in interleaved runs so
// that drifts of the machine fall on both alike; the medians are compared.
//
// In a cluster the sidecar's CPU is its own (a pod's containers each have
// a CPU request), so what capturing costs the application is the kernel's
// work on its packets (each one copied to the packet ring on its send and
// receive paths) and the sharing of caches. On a small machine the load
// generator, the server and the sidecar would otherwise fight for the same
// cores, and the figure would measure the machine. So the server gets the
// last core alone, and the load generator (wrk, efficient enough to leave
// room) and the sidecar share the others; each run also reports the
// server's requests per CPU-second of its own threads.
//
// At full load the server on a core of its own answers more requests than
// a sidecar at 0.25 CPU can capture, so the scenario also runs at a fixed
// rate the sidecar keeps up with (the live target's 10,000 req/s) and
// compares the server's CPU per request there.
func Overhead(ctx context.Context, o Options, rep *report.Report, tmp string) error {
	runs, d := 5, 5*time.Second
	if o.Quick {
		runs, d = 3, time.Second
	}
	wrk, err := load.NewWrk()
	if err != nil {
		return err
	}
	allowed, err := host.AllowedCPUs()
	if err != nil {
		return err
	}
	cpus := host.SplitCPUs(allowed)
	// The bench itself (the generator of the fixed-rate runs, the reader
	// of the sidecar's records and metrics) keeps off the server's CPU.
	if err := host.Pin(os.Getpid(), cpus.Rest); err != nil {
		return err
	}
	defer func() {
		if err := host.Pin(os.Getpid(), allowed); err != nil {
			slog.Warn("the bench stays pinned", "err", err)
		}
	}()
	return withLive(ctx, o, tmp, func(env *liveEnv, limit *host.CPULimit) error {
		if err := host.Pin(env.server.Process.Pid, cpus.App); err != nil {
			return err
		}
		url := fmt.Sprintf("http://%s/api/items/1?size=%d", env.addr(), liveBodySize)
		if _, err := wrk.Run(ctx, url, cpus.Rest, liveConns, time.Second); err != nil {
			return err
		}
		full := func() (int64, float64, error) {
			r, err := wrk.Run(ctx, url, cpus.Rest, liveConns, d)
			return r.Requests, r.Rate(), err
		}
		without, with, coverage, err := interleave(ctx, env, limit, cpus, runs, full)
		if err != nil {
			return err
		}
		gen := load.NewGenerator(env.addr(), liveConns)
		defer gen.Close()
		fixed := func() (int64, float64, error) {
			r := gen.Run(ctx, overheadRate, d, liveBodySize)
			if r.Errors > 0 || r.OK == 0 {
				return r.OK, r.Rate(), fmt.Errorf("%d failed requests at %d req/s", r.Errors, overheadRate)
			}
			return r.OK, r.Rate(), nil
		}
		fixedWithout, fixedWith, fixedCoverage, err := interleave(ctx, env, limit, cpus, runs, fixed)
		if err != nil {
			return err
		}
		a, b := medianOf(fixedWithout, perCPU), medianOf(fixedWith, perCPU)
		name := fmt.Sprintf("app at %d req/s", overheadRate)
		rep.Rows = append(rep.Rows,
			report.NewRow(name+", without sidecar (median)").Set("req_per_s", overheadRate).Set("req_per_app_cpu_s", a),
			&report.Row{Scenario: name + ", sidecar capturing (median)",
				Figures: map[string]float64{"req_per_s": overheadRate, "req_per_app_cpu_s": b, "app_cpu_ratio_pct": 100 * b / a, "coverage_pct": fixedCoverage},
				Note:    fmt.Sprintf("%d interleaved runs of %s each; the server's CPU per request: %.1f µs without, %.1f µs with", runs, d, 1e6/a, 1e6/b)})
		a, b = medianOf(without, rate), medianOf(with, rate)
		ac, bc := medianOf(without, perCPU), medianOf(with, perCPU)
		rep.Rows = append(rep.Rows,
			report.NewRow("app without sidecar (median)").Set("req_per_s", a).Set("req_per_app_cpu_s", ac),
			&report.Row{Scenario: "app with sidecar capturing (median)",
				Figures: map[string]float64{
					"req_per_s": b, "app_ratio_pct": 100 * b / a,
					"req_per_app_cpu_s": bc, "app_cpu_ratio_pct": 100 * bc / ac,
					// wrk does not count the requests in flight when it
					// stops, which the sidecar may have captured.
					"coverage_pct": min(100, coverage),
				},
				Note: fmt.Sprintf("%d interleaved runs of %s each, wrk with %d connections, 1 KiB JSON responses; %s; %s",
					runs, d, liveConns, cpus, limit.Kind())})
		return nil
	})
}

// overheadRate is the fixed rate of the second half of the scenario.
const overheadRate = 10000

// measured is one load run: its requests per second, and the requests per
// CPU-second of the server's own threads.
type measured struct{ rate, perCPU float64 }

func rate(m measured) float64   { return m.rate }
func perCPU(m measured) float64 { return m.perCPU }

func medianOf(ms []measured, f func(measured) float64) float64 {
	xs := make([]float64, len(ms))
	for i, m := range ms {
		xs[i] = f(m)
	}
	return median(xs)
}

// interleave runs load runs times without the sidecar and with it
// capturing, alternately, so that drifts of the machine fall on both
// alike, and returns each run's figures and the percentage of the
// requests of the runs with it that the sidecar captured. load returns
// the requests it completed and its rate.
func interleave(ctx context.Context, env *liveEnv, limit *host.CPULimit, cpus host.CPUSplit, runs int, load func() (int64, float64, error)) (without, with []measured, coverage float64, err error) {
	server := env.server.Process.Pid
	measure := func() (measured, int64, error) {
		c0, err := host.TaskCPU(server)
		if err != nil {
			return measured{}, 0, err
		}
		n, r, err := load()
		if err != nil {
			return measured{}, n, err
		}
		c1, err := host.TaskCPU(server)
		if err != nil {
			return measured{}, n, err
		}
		if c1 <= c0 {
			return measured{}, n, fmt.Errorf("the server's CPU time did not grow over a run (%.6f s to %.6f s)", c0, c1)
		}
		return measured{rate: r, perCPU: float64(n) / (c1 - c0)}, n, nil
	}
	var sent, captured float64
	for range runs {
		m, _, err := measure()
		if err != nil {
			return nil, nil, 0, err
		}
		without = append(without, m)
		sc, err := startSidecar(ctx, env, limit)
		if err != nil {
			return nil, nil, 0, err
		}
		if err := host.Pin(sc.pid(), cpus.Rest); err != nil {
			return nil, nil, 0, fmt.Errorf("%w (the sidecar: %v)", err, sc.stop())
		}
		m, n, err := measure()
		var sm sidecarMetrics
		if err == nil {
			sm, err = sc.drained(ctx, float64(n))
		}
		if stopErr := sc.stop(); err == nil {
			err = stopErr
		}
		if err != nil {
			return nil, nil, 0, err
		}
		with = append(with, m)
		sent, captured = sent+float64(n), captured+sm.Pairs
		slog.Info("overhead run", "without", without[len(without)-1], "with", m, "requests", n, "captured", sm.Pairs)
	}
	return without, with, 100 * captured / sent, nil
}
