package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"
)

// overheadScenario measures what capturing costs the application: the
// server's requests per second at full load, without and with the sidecar
// capturing (confined to its CPU limit, as in a pod), in interleaved runs so
// that drifts of the machine fall on both alike; the medians are compared.
func overheadScenario(ctx context.Context, o options, rep *report, tmp string) error {
	runs, d := 5, 5*time.Second
	if o.quick {
		runs, d = 3, time.Second
	}
	return withLive(ctx, o, tmp, func(env *liveEnv, limit *cpuLimit) error {
		gen := newLoadGen(env.addr(), liveConns)
		defer gen.close()
		gen.run(ctx, 0, 500*time.Millisecond, liveBodySize)
		var without, with []float64
		for i := range runs {
			r := gen.run(ctx, 0, d, liveBodySize)
			without = append(without, r.Rate())
			sc, err := startSidecar(ctx, env, limit, filepath.Join(tmp, fmt.Sprintf("overhead-%d.jsonl", i)))
			if err != nil {
				return err
			}
			r = gen.run(ctx, 0, d, liveBodySize)
			if err := sc.stop(); err != nil {
				return err
			}
			with = append(with, r.Rate())
			slog.Info("overhead run", "without", without[i], "with", with[i])
		}
		a, b := median(without), median(with)
		rep.Rows = append(rep.Rows,
			newRow("app without sidecar (median)").set("req_per_s", a),
			&row{Scenario: "app with sidecar capturing (median)",
				Figures: map[string]float64{"req_per_s": b, "app_ratio_pct": 100 * b / a},
				Note:    fmt.Sprintf("%d interleaved runs of %s each, %d connections; %s", runs, d, liveConns, limit.Kind())})
		return nil
	})
}
