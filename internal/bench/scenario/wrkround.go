package scenario

import (
	"context"
	"time"

	"github.com/podtap/podtap/internal/bench/host"
	"github.com/podtap/podtap/internal/bench/load"
)

// wrkRound is what a sidecar made of wrk driving nginx as fast as it goes:
// the sidecar's metrics before and after, the requests nginx logged, and
// the sidecar's CPU-seconds over the round.
type wrkRound struct {
	m0, m1 sidecarMetrics
	wrk    load.WrkResult
	wall   time.Duration
	served float64
	cpu    float64
}

// runWrkRound drives url with wrk from cpus for d, then waits until the
// sidecar has emitted a pair for every request nginx logged, or gives up
// waiting as drained does.
func runWrkRound(ctx context.Context, sc *sidecarProc, ng *load.Nginx, wrk *load.Wrk, url string, cpus []int, d time.Duration) (*wrkRound, error) {
	r := &wrkRound{}
	var err error
	if r.m0, err = sc.scrape(); err != nil {
		return nil, err
	}
	served0, err := ng.Served()
	if err != nil {
		return nil, err
	}
	cpu0, err := host.TaskCPU(sc.pid())
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if r.wrk, err = wrk.Run(ctx, url, cpus, largeConns, d); err != nil {
		return nil, err
	}
	r.wall = time.Since(t0)
	// nginx logs a request once it has answered it; those in flight when
	// wrk stopped are answered and logged in the moment after.
	time.Sleep(500 * time.Millisecond)
	served1, err := ng.Served()
	if err != nil {
		return nil, err
	}
	r.served = float64(served1 - served0)
	if r.m1, err = sc.drained(ctx, r.m0.Pairs+r.served); err != nil {
		return nil, err
	}
	cpu1, err := host.TaskCPU(sc.pid())
	if err != nil {
		return nil, err
	}
	r.cpu = cpu1 - cpu0
	return r, nil
}

// pairs is the pairs the sidecar emitted over the round.
func (r *wrkRound) pairs() float64 { return r.m1.Pairs - r.m0.Pairs }
