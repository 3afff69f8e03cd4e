package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/podtap/podtap/internal/bench/host"
	"github.com/podtap/podtap/internal/bench/load"
	"github.com/podtap/podtap/internal/bench/report"
)

const (
	// largeBodySize is the JSON document of the large-body live row, as
	// in the report it reproduces (8.6 KB).
	largeBodySize = 8600
	// largeConns are wrk's connections there.
	largeConns = 20
)

// LiveLarge is live capture at byte-heavy load, tried as a new user
// would: Debian's nginx serving an 8.6 KB JSON document in the pod, wrk
// with 20 connections as fast as it goes from the host side, and the
// sidecar without a CPU limit, all three sharing the machine's CPUs.
// What overflows a ring and what costs is bytes per second, not pairs:
// this row measures coverage (pairs emitted / requests nginx logged), the
// drops in the kernel and at the sidecar's queue, its CPU, and the bytes
// it read per CPU-second.
func LiveLarge(ctx context.Context, o Options, rep *report.Report, tmp string) error {
	d := 10 * time.Second
	if o.Quick {
		d = time.Second
	}
	wrk, err := load.NewWrk()
	if err != nil {
		return err
	}
	allowed, err := host.AllowedCPUs()
	if err != nil {
		return err
	}
	env, err := setupPod(o, tmp)
	if err != nil {
		return err
	}
	ng, err := load.StartNginx(&env.pod.NS, env.addr(), filepath.Join(tmp, "nginx"), largeBodySize)
	if err != nil {
		return errors.Join(err, env.close())
	}
	err = liveLarge(ctx, env, ng, wrk, allowed, d, rep)
	return errors.Join(err, ng.Stop(), env.close())
}

func liveLarge(ctx context.Context, env *liveEnv, ng *load.Nginx, wrk *load.Wrk, cpus []int, d time.Duration, rep *report.Report) error {
	sc, err := startSidecar(ctx, env, nil)
	if err != nil {
		return err
	}
	defer sc.stop()
	r, err := runWrkRound(ctx, sc, ng, wrk, "http://"+env.addr()+ng.Path, cpus, d)
	if err != nil {
		return err
	}
	rss, _, _ := host.ProcessRSS(sc.pid())
	m0, m1, pairs, wall := r.m0, r.m1, r.pairs(), r.wall
	mb := (m1.Bytes - m0.Bytes) / 1e6
	row := report.NewRow(fmt.Sprintf("live nginx %d B JSON, wrk %d conns, sidecar unlimited", largeBodySize, largeConns)).
		Set("pairs_per_s", pairs/wall.Seconds()).
		Set("pairs_emitted", pairs).
		Set("pairs_expected", r.served).
		Set("coverage_pct", 100*pairs/max(r.served, 1)).
		Set("kernel_drops", m1.KernelDrops-m0.KernelDrops).
		Set("cpu_pct", 100*r.cpu/wall.Seconds()).
		Set("rss_mib", float64(rss)/(1<<20)).
		Set("req_per_s", r.wrk.Rate())
	row.Note = fmt.Sprintf("app, wrk and sidecar share CPU %s; %.0f MB/s captured, %.0f MB/s per sidecar core; %.0f packets dropped at the sidecar's queue (flow.queue_bytes)%s",
		host.CPUList(cpus), mb/wall.Seconds(), mb/max(r.cpu, 1e-9), m1.QueueDrops-m0.QueueDrops, droppedNote(m1, m0))
	rep.Rows = append(rep.Rows, row)
	slog.Info("live large bodies", "requests", r.served, "pairs", pairs, "kernel_drops", m1.KernelDrops-m0.KernelDrops, "cpu", r.cpu, "mb", mb)
	return nil
}
