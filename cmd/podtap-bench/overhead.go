package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"
)

// overheadScenario measures what capturing costs the application: the
// server's requests per second at full load, without and with the sidecar
// capturing (confined to its CPU limit, as in a pod), in interleaved runs so
// that drifts of the machine fall on both alike; the medians are compared.
//
// On a machine whose few cores the load generator and the server already
// fill, the sidecar's CPU limit comes out of theirs, which in a cluster it
// does not: a pod's sidecar has a CPU request of its own. So the scenario
// also reports requests per CPU-second of the server: what capturing costs
// the application itself (the kernel's copy to the packet ring happens on
// its send path), apart from the cores it has to share here.
func overheadScenario(ctx context.Context, o options, rep *report, tmp string) error {
	runs, d := 5, 5*time.Second
	if o.quick {
		runs, d = 3, time.Second
	}
	return withLive(ctx, o, tmp, func(env *liveEnv, limit *cpuLimit) error {
		gen := newLoadGen(env.addr(), liveConns)
		defer gen.close()
		gen.run(ctx, 0, 500*time.Millisecond, liveBodySize)
		server := env.server.Process.Pid
		// run is one load run: requests per second, and requests per
		// CPU-second of the server.
		run := func() (rate, perCPU float64, err error) {
			c0, err := taskCPU(server)
			if err != nil {
				return 0, 0, err
			}
			r := gen.run(ctx, 0, d, liveBodySize)
			c1, err := taskCPU(server)
			if err != nil {
				return 0, 0, err
			}
			return r.Rate(), float64(r.OK) / (c1 - c0), nil
		}
		var without, with, withoutCPU, withCPU []float64
		for i := range runs {
			rate, perCPU, err := run()
			if err != nil {
				return err
			}
			without, withoutCPU = append(without, rate), append(withoutCPU, perCPU)
			sc, err := startSidecar(ctx, env, limit)
			if err != nil {
				return err
			}
			rate, perCPU, err = run()
			if stopErr := sc.stop(); err == nil {
				err = stopErr
			}
			if err != nil {
				return err
			}
			with, withCPU = append(with, rate), append(withCPU, perCPU)
			slog.Info("overhead run", "without", without[i], "with", with[i], "per_cpu_without", withoutCPU[i], "per_cpu_with", withCPU[i])
		}
		a, b := median(without), median(with)
		ac, bc := median(withoutCPU), median(withCPU)
		rep.Rows = append(rep.Rows,
			newRow("app without sidecar (median)").set("req_per_s", a).set("req_per_app_cpu_s", ac),
			&row{Scenario: "app with sidecar capturing (median)",
				Figures: map[string]float64{"req_per_s": b, "app_ratio_pct": 100 * b / a, "req_per_app_cpu_s": bc, "app_cpu_ratio_pct": 100 * bc / ac},
				Note: fmt.Sprintf("%d interleaved runs of %s each, %d connections; %s; app_ratio shares %d cores with the load generator, app_cpu_ratio is per server CPU-second",
					runs, d, liveConns, limit.Kind(), runtime.NumCPU())})
		return nil
	})
}
