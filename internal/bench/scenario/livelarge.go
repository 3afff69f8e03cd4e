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
	url := "http://" + env.addr() + ng.Path
	m0, err := sc.scrape()
	if err != nil {
		return err
	}
	served0, err := ng.Served()
	if err != nil {
		return err
	}
	cpu0, _ := host.ProcessCPU(sc.pid())
	t0 := time.Now()
	w, err := wrk.Run(ctx, url, cpus, largeConns, d)
	if err != nil {
		return err
	}
	wall := time.Since(t0)
	// nginx logs a request once it has answered it; those in flight when
	// wrk stopped are answered and logged in the moment after.
	time.Sleep(500 * time.Millisecond)
	served1, err := ng.Served()
	if err != nil {
		return err
	}
	served := float64(served1 - served0)
	m1, err := sc.drained(ctx, m0.Pairs+served)
	if err != nil {
		return err
	}
	cpu1, _ := host.ProcessCPU(sc.pid())
	rss, _, _ := host.ProcessRSS(sc.pid())
	pairs, cpu := m1.Pairs-m0.Pairs, cpu1-cpu0
	mb := (m1.Bytes - m0.Bytes) / 1e6
	row := report.NewRow(fmt.Sprintf("live nginx %d B JSON, wrk %d conns, sidecar unlimited", largeBodySize, largeConns)).
		Set("pairs_per_s", pairs/wall.Seconds()).
		Set("pairs_emitted", pairs).
		Set("pairs_expected", served).
		Set("coverage_pct", 100*pairs/max(served, 1)).
		Set("kernel_drops", m1.KernelDrops-m0.KernelDrops).
		Set("cpu_pct", 100*cpu/wall.Seconds()).
		Set("rss_mib", float64(rss)/(1<<20)).
		Set("req_per_s", w.Rate())
	row.Note = fmt.Sprintf("app, wrk and sidecar share CPU %s; %.0f MB/s captured, %.0f MB/s per sidecar core; %.0f packets dropped at the sidecar's queue (flow.queue_bytes)",
		host.CPUList(cpus), mb/wall.Seconds(), mb/max(cpu, 1e-9), m1.QueueDrops-m0.QueueDrops)
	rep.Rows = append(rep.Rows, row)
	slog.Info("live large bodies", "requests", served, "pairs", pairs, "kernel_drops", m1.KernelDrops-m0.KernelDrops, "cpu", cpu, "mb", mb)
	return nil
}
