package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// overheadScenario measures what capturing costs the application: the
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
func overheadScenario(ctx context.Context, o options, rep *report, tmp string) error {
	runs, d := 5, 5*time.Second
	if o.quick {
		runs, d = 3, time.Second
	}
	wrk, err := newWrk()
	if err != nil {
		return err
	}
	allowed, err := allowedCPUs()
	if err != nil {
		return err
	}
	cpus := splitCPUs(allowed)
	// The bench itself (the generator of the fixed-rate runs, the reader
	// of the sidecar's records and metrics) keeps off the server's CPU.
	if err := pinProcess(os.Getpid(), cpus.rest); err != nil {
		return err
	}
	defer func() {
		if err := pinProcess(os.Getpid(), allowed); err != nil {
			slog.Warn("the bench stays pinned", "err", err)
		}
	}()
	return withLive(ctx, o, tmp, func(env *liveEnv, limit *cpuLimit) error {
		server := env.server.Process.Pid
		if err := pinProcess(server, cpus.app); err != nil {
			return err
		}
		url := fmt.Sprintf("http://%s/api/items/1?size=%d", env.addr(), liveBodySize)
		if _, err := wrk.run(ctx, url, cpus.rest, liveConns, time.Second); err != nil {
			return err
		}
		// run is one load run: requests per second, and requests per
		// CPU-second of the server.
		run := func() (wrkResult, float64, error) {
			c0, err := taskCPU(server)
			if err != nil {
				return wrkResult{}, 0, err
			}
			r, err := wrk.run(ctx, url, cpus.rest, liveConns, d)
			if err != nil {
				return r, 0, err
			}
			c1, err := taskCPU(server)
			if err != nil {
				return r, 0, err
			}
			if c1 <= c0 {
				return r, 0, fmt.Errorf("the server's CPU time did not grow over a run (%.6f s to %.6f s)", c0, c1)
			}
			return r, float64(r.Requests) / (c1 - c0), nil
		}
		var without, with, withoutCPU, withCPU []float64
		var sent, captured float64
		for i := range runs {
			r, perCPU, err := run()
			if err != nil {
				return err
			}
			without, withoutCPU = append(without, r.Rate()), append(withoutCPU, perCPU)
			sc, err := startSidecar(ctx, env, limit)
			if err != nil {
				return err
			}
			if err := pinProcess(sc.pid(), cpus.rest); err != nil {
				return fmt.Errorf("%w (the sidecar: %v)", err, sc.stop())
			}
			r, perCPU, err = run()
			var m sidecarMetrics
			if err == nil {
				m, err = sc.drained(ctx, float64(r.Requests))
			}
			if stopErr := sc.stop(); err == nil {
				err = stopErr
			}
			if err != nil {
				return err
			}
			with, withCPU = append(with, r.Rate()), append(withCPU, perCPU)
			sent, captured = sent+float64(r.Requests), captured+m.Pairs
			slog.Info("overhead run", "without", without[i], "with", with[i], "per_cpu_without", withoutCPU[i], "per_cpu_with", withCPU[i], "captured", m.Pairs, "requests", r.Requests)
		}
		fixed, err := fixedRateOverhead(ctx, env, limit, cpus, runs, d)
		if err != nil {
			return err
		}
		a, b := median(without), median(with)
		ac, bc := median(withoutCPU), median(withCPU)
		rep.Rows = append(rep.Rows, fixed...)
		rep.Rows = append(rep.Rows,
			newRow("app without sidecar (median)").set("req_per_s", a).set("req_per_app_cpu_s", ac),
			&row{Scenario: "app with sidecar capturing (median)",
				Figures: map[string]float64{
					"req_per_s": b, "app_ratio_pct": 100 * b / a,
					"req_per_app_cpu_s": bc, "app_cpu_ratio_pct": 100 * bc / ac,
					// wrk does not count the requests in flight when it
					// stops, which the sidecar may have captured.
					"coverage_pct": min(100, 100*captured/sent),
				},
				Note: fmt.Sprintf("%d interleaved runs of %s each, wrk with %d connections, 1 KiB JSON responses; %s; %s",
					runs, d, liveConns, cpus, limit.Kind())})
		return nil
	})
}

// overheadRate is the fixed rate of the second half of the scenario.
const overheadRate = 10000

// fixedRateOverhead drives the server at overheadRate with the bench's own
// generator, without and with the sidecar, and compares the server's CPU
// per request.
func fixedRateOverhead(ctx context.Context, env *liveEnv, limit *cpuLimit, cpus cpuSplit, runs int, d time.Duration) ([]*row, error) {
	gen := newLoadGen(env.addr(), liveConns)
	defer gen.close()
	server := env.server.Process.Pid
	run := func() (loadResult, float64, error) {
		c0, err := taskCPU(server)
		if err != nil {
			return loadResult{}, 0, err
		}
		r := gen.run(ctx, overheadRate, d, liveBodySize)
		c1, err := taskCPU(server)
		if err != nil {
			return r, 0, err
		}
		if r.Errors > 0 || r.OK == 0 {
			return r, 0, fmt.Errorf("%d failed requests at %d req/s", r.Errors, overheadRate)
		}
		if c1 <= c0 {
			return r, 0, fmt.Errorf("the server's CPU time did not grow over a run (%.6f s to %.6f s)", c0, c1)
		}
		return r, (c1 - c0) / float64(r.OK), nil
	}
	var without, with []float64
	var sent, captured float64
	for range runs {
		_, cpu, err := run()
		if err != nil {
			return nil, err
		}
		without = append(without, cpu)
		sc, err := startSidecar(ctx, env, limit)
		if err != nil {
			return nil, err
		}
		if err := pinProcess(sc.pid(), cpus.rest); err != nil {
			return nil, fmt.Errorf("%w (the sidecar: %v)", err, sc.stop())
		}
		r, cpu, err := run()
		var m sidecarMetrics
		if err == nil {
			m, err = sc.drained(ctx, float64(r.OK))
		}
		if stopErr := sc.stop(); err == nil {
			err = stopErr
		}
		if err != nil {
			return nil, err
		}
		with = append(with, cpu)
		sent, captured = sent+float64(r.OK), captured+m.Pairs
	}
	a, b := median(without), median(with)
	name := fmt.Sprintf("app at %d req/s", overheadRate)
	return []*row{
		newRow(name+", without sidecar (median)").set("req_per_s", overheadRate).set("req_per_app_cpu_s", 1/a),
		{Scenario: name + ", sidecar capturing (median)",
			Figures: map[string]float64{"req_per_s": overheadRate, "req_per_app_cpu_s": 1 / b, "app_cpu_ratio_pct": 100 * a / b, "coverage_pct": 100 * captured / sent},
			Note:    fmt.Sprintf("%d interleaved runs of %s each; the server's CPU per request: %.1f µs without, %.1f µs with", runs, d, a*1e6, b*1e6)},
	}, nil
}
