package scenario

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/podtap/podtap/internal/bench/host"
	"github.com/podtap/podtap/internal/bench/load"
	"github.com/podtap/podtap/internal/bench/report"
)

// Idle measures the sidecar's memory and CPU with many idle keep-alive
// connections open (each has carried one exchange, so the sidecar tracks
// it) while other connections carry 1,000 pairs a second, at growing
// connection counts, each with a fresh sidecar, so that the cost curve
// shows; then the memory per idle connection, the slope between the
// smallest and the largest count.
func Idle(ctx context.Context, o Options, rep *report.Report, tmp string) error {
	counts, d := []int{1000, 10000}, 10*time.Second
	if o.Quick {
		counts, d = []int{250, 500}, 2*time.Second
	}
	if err := host.RaiseFileLimit(); err != nil {
		return err
	}
	return withLive(ctx, o, tmp, func(env *liveEnv, limit *host.CPULimit) error {
		rss := make([]int64, len(counts))
		for i, n := range counts {
			var err error
			if rss[i], err = idleStep(ctx, env, limit, n, d, rep); err != nil {
				return err
			}
		}
		lo, hi := 0, len(counts)-1
		perConn := float64(rss[hi]-rss[lo]) / float64(counts[hi]-counts[lo])
		r := report.NewRow(fmt.Sprintf("idle: memory per idle connection, %d to %d", counts[lo], counts[hi])).
			Set("bytes_per_conn", perConn)
		r.Note = "the growth of RSS over the growth of idle connections, between the two rows above"
		rep.Rows = append(rep.Rows, r)
		return nil
	})
}

// idleStep holds conns idle connections with a fresh sidecar while 1,000
// pairs a second go by, adds its row and returns the sidecar's RSS.
func idleStep(ctx context.Context, env *liveEnv, limit *host.CPULimit, conns int, d time.Duration, rep *report.Report) (int64, error) {
	sc, err := startSidecar(ctx, env, limit)
	if err != nil {
		return 0, err
	}
	defer sc.stop()
	idle, err := openIdle(ctx, env.addr(), conns)
	defer closeAll(idle)
	if err != nil {
		return 0, err
	}
	m0, err := sc.drained(ctx, float64(len(idle)))
	if err != nil {
		return 0, err
	}
	gen := load.NewGenerator(env.addr(), 16)
	defer gen.Close()
	cpu0, _ := host.ProcessCPU(sc.pid())
	t0 := time.Now()
	load := gen.Run(ctx, 1000, d, liveBodySize)
	m1, err := sc.drained(ctx, m0.Pairs+float64(load.OK))
	if err != nil {
		return 0, err
	}
	cpu1, _ := host.ProcessCPU(sc.pid())
	rss, peak, err := host.ProcessRSS(sc.pid())
	if err != nil {
		return 0, err
	}
	pairs := m1.Pairs - m0.Pairs
	r := report.NewRow(fmt.Sprintf("idle: %d idle keep-alive conns + 1,000 pairs/s", conns)).
		Set("pairs_per_s", pairs/load.Elapsed.Seconds()).
		Set("pairs_emitted", pairs).
		Set("pairs_expected", float64(load.OK)).
		Set("coverage_pct", 100*pairs/float64(max(load.OK, 1))).
		// The sidecar started with the step: its drops are those of the
		// whole of it, the opening of the idle connections too.
		Set("kernel_drops", m1.KernelDrops).
		Set("cpu_pct", 100*(cpu1-cpu0)/time.Since(t0).Seconds()).
		Set("rss_mib", float64(rss)/(1<<20))
	r.Note = fmt.Sprintf("RSS now; peak %.1f MiB; %s", float64(peak)/(1<<20), limit.Kind())
	rep.Rows = append(rep.Rows, r)
	return rss, nil
}

// idleOpenRate is how many idle connections are opened a second: the
// scenario is about holding them, and a pod's connections pile up over
// time rather than in one burst (which would measure the burst instead).
const idleOpenRate = 2000

// openIdle opens n connections to addr at idleOpenRate, makes one exchange
// on each, and leaves them open.
func openIdle(ctx context.Context, addr string, n int) ([]net.Conn, error) {
	const workers = 64
	var mu sync.Mutex
	out := make([]net.Conn, 0, n)
	start := time.Now()
	err := load.Parallel(ctx, workers, func(ctx context.Context, w int) error {
		var d net.Dialer
		for i := w; i < n; i += workers {
			if wait := time.Until(start.Add(time.Duration(i) * time.Second / idleOpenRate)); wait > 0 {
				time.Sleep(wait)
			}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return fmt.Errorf("idle connection %d: %w", i, err)
			}
			mu.Lock()
			out = append(out, c)
			mu.Unlock()
			if err := oneExchange(c, addr, i); err != nil {
				return fmt.Errorf("idle connection %d: %w", i, err)
			}
		}
		return nil
	})
	return out, err
}

// oneExchange sends a GET on c and reads the whole response, leaving the
// connection open (keep-alive).
func oneExchange(c net.Conn, addr string, i int) error {
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(c, "GET /api/items/%d?size=256 HTTP/1.1\r\nHost: %s\r\n\r\n", i, addr); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	if err := load.ReadOK(resp); err != nil {
		return err
	}
	return c.SetDeadline(time.Time{})
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}
