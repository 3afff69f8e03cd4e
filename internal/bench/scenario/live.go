package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/podtap/podtap/internal/bench/host"
	"github.com/podtap/podtap/internal/bench/load"
	"github.com/podtap/podtap/internal/bench/report"
	"github.com/podtap/podtap/internal/netns"
)

// The live scenarios' "pod": a network namespace with a veth pair, the app
// server inside it, the sidecar capturing its eth0, and the load generator
// on the host side. Names carry the bench's prefix (see benchPod).
const (
	livePrefix  = "ptbn-"
	livePodNS   = livePrefix + "pod-"
	appPort     = 8080
	sidecarCPUs = 0.25
	// liveBodySize is the JSON response of the live scenarios.
	liveBodySize = 1024
	// liveConns is the load generator's keep-alive connections.
	liveConns = 64
)

// liveEnv is the namespace with its server, shared by the live scenarios.
type liveEnv struct {
	pod        *netns.Pod
	podIP      string
	hostIP     string
	veth       string
	server     *exec.Cmd
	sidecarBin string
	sidecarEnv []string
	tmp        string
}

func (e *liveEnv) addr() string { return fmt.Sprintf("%s:%d", e.podIP, appPort) }

// livePod names a live scenario's namespace: its own, its veth's, and
// the addresses of the two ends.
type livePod struct{ ns, veth, hostIP, podIP string }

// tlsPod is the tls scenario's pod, which has a PID namespace of its own
// too: a bench of the other kind running at the same time keeps its own.
var tlsPod = livePod{livePrefix + "tls", livePrefix + "h1", "10.213.92.1", "10.213.92.2"}

// setupPod makes the bench's own pod, with no server in it yet.
func setupPod(o Options, tmp string) (*liveEnv, error) {
	removeStalePods()
	return setupPodAt(o, tmp, benchPod(os.Getpid()))
}

func setupPodAt(o Options, tmp string, p livePod) (*liveEnv, error) {
	if err := netns.Check(); err != nil {
		return nil, err
	}
	pod, err := netns.NewPod(p.ns, p.veth, p.hostIP+"/24", p.podIP+"/24")
	if err != nil {
		return nil, err
	}
	return &liveEnv{pod: pod, podIP: p.podIP, hostIP: p.hostIP, veth: p.veth, sidecarBin: o.Sidecar, sidecarEnv: o.SidecarEnv, tmp: tmp}, nil
}

// benchPod names the pod of the bench with process id pid, and addresses it
// in a /24 of 10.214.0.0/16 chosen by the pid. With one fixed name, benches
// run at once by engineers sharing a machine deleted each other's pod as a
// crashed run's leftover, mid-run.
func benchPod(pid int) livePod {
	n := pid%250 + 1
	return livePod{livePodNS + strconv.Itoa(pid), livePrefix + strconv.Itoa(pid),
		fmt.Sprintf("10.214.%d.1", n), fmt.Sprintf("10.214.%d.2", n)}
}

// removeStalePods deletes the pods of benches that are no longer running:
// what a crashed run left.
func removeStalePods() {
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), livePodNS))
		if !strings.HasPrefix(e.Name(), livePodNS) || err != nil || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		p := benchPod(pid)
		if err := (&netns.Pod{NS: netns.NS{Name: p.ns}, Host: p.veth}).Delete(); err != nil {
			slog.Warn("removing a crashed bench's pod failed", "netns", p.ns, "err", err)
		}
	}
}

// setupLive makes the namespace and starts the server in it.
func setupLive(ctx context.Context, o Options, tmp string) (*liveEnv, error) {
	e, err := setupPod(o, tmp)
	if err != nil {
		return nil, err
	}
	if e.server, _, err = load.StartServer(ctx, &e.pod.NS, e.addr()); err != nil {
		return nil, errors.Join(err, e.close())
	}
	return e, nil
}

func (e *liveEnv) close() error {
	var err error
	if e.server != nil {
		err = load.StopServer(e.server)
	}
	return errors.Join(err, e.pod.Delete())
}

// withLive runs f with the namespace, server and CPU-limited cgroup, and
// removes them after.
func withLive(ctx context.Context, o Options, tmp string, f func(*liveEnv, *host.CPULimit) error) error {
	env, err := setupLive(ctx, o, tmp)
	if err != nil {
		return err
	}
	// Named after the process, as the pod is (see benchPod).
	limit, err := host.NewCPULimit(livePrefix+"sidecar-"+strconv.Itoa(os.Getpid()), sidecarCPUs)
	if err != nil {
		return errors.Join(err, env.close())
	}
	err = f(env, limit)
	return errors.Join(err, env.close(), limit.Remove())
}

// liveStepResult is one rate step of the live scenario.
type liveStepResult struct {
	target    float64
	load      load.Result
	pairs     float64
	drops     float64
	cpu       float64 // sidecar CPU seconds per second
	rss       int64
	throttled int64
}

func (r liveStepResult) coverage() float64 {
	if r.load.OK == 0 {
		return 0
	}
	return r.pairs / float64(r.load.OK)
}

// passed is the live target's criterion: at least 99.99% of the responses
// became pairs, and the kernel dropped nothing.
func (r liveStepResult) passed() bool { return r.coverage() >= 0.9999 && r.drops == 0 }

// Live drives the server at rising rates with the sidecar confined
// to 0.25 CPU, and reports each step and the highest rate that passed.
func Live(ctx context.Context, o Options, rep *report.Report, tmp string) error {
	rates := []float64{2500, 5000, 7500, 10000, 12500, 15000, 20000, 25000, 30000, 40000, 50000}
	step := 5 * time.Second
	if o.Quick {
		rates, step = []float64{500, 1000}, time.Second
	}
	return withLive(ctx, o, tmp, func(env *liveEnv, limit *host.CPULimit) error {
		sc, err := startSidecar(ctx, env, limit)
		if err != nil {
			return err
		}
		defer sc.stop()
		gen := load.NewGenerator(env.addr(), liveConns)
		defer gen.Close()
		// Warm up: connections open, the sidecar's first allocations done.
		warm := gen.Run(ctx, 500, 500*time.Millisecond, liveBodySize)
		if _, err := sc.drained(ctx, float64(warm.OK)); err != nil {
			return err
		}
		var best *liveStepResult
		failures := 0
		for _, rate := range rates {
			r, err := liveStep(ctx, sc, limit, gen, rate, step)
			if err != nil {
				return err
			}
			rep.Rows = append(rep.Rows, liveRow(fmt.Sprintf("live %.0f req/s, sidecar at %.2f CPU", rate, limit.Cores), r, limit))
			slog.Info("live step", "rate", rate, "achieved", r.load.Rate(), "coverage", r.coverage(), "drops", r.drops, "cpu", r.cpu)
			if r.passed() {
				failures = 0
				if best == nil || r.load.Rate() > best.load.Rate() {
					best = &r
				}
			} else {
				failures++
			}
			// Past what the generator and server reach on this machine, or
			// twice failed: higher rates tell nothing more.
			if r.load.Rate() < 0.9*rate || failures == 2 || ctx.Err() != nil {
				break
			}
		}
		summary := report.NewRow(fmt.Sprintf("live highest rate ≥99.99%% and 0 drops, %.2f CPU", limit.Cores))
		if best == nil {
			summary.Note = "no step passed"
		} else {
			summary = liveRow(summary.Scenario, *best, limit)
			summary.Note = "load: the bench's own generator (" + fmt.Sprint(liveConns) + " keep-alive connections, 1 KiB JSON responses); " + limit.Kind()
		}
		rep.Rows = append(rep.Rows, summary)
		return nil
	})
}

// liveStep runs the generator at rate for d and reads what the sidecar did
// meanwhile, once it has caught up.
func liveStep(ctx context.Context, sc *sidecarProc, limit *host.CPULimit, gen *load.Generator, rate float64, d time.Duration) (liveStepResult, error) {
	r := liveStepResult{target: rate}
	m0, err := sc.scrape()
	if err != nil {
		return r, err
	}
	cpu0, _ := host.ProcessCPU(sc.pid())
	thr0 := limit.Throttled()
	t0 := time.Now()
	r.load = gen.Run(ctx, rate, d, liveBodySize)
	m1, err := sc.drained(ctx, m0.Pairs+float64(r.load.OK))
	if err != nil {
		return r, err
	}
	cpu1, _ := host.ProcessCPU(sc.pid())
	r.pairs = m1.Pairs - m0.Pairs
	r.drops = m1.KernelDrops - m0.KernelDrops
	r.cpu = (cpu1 - cpu0) / time.Since(t0).Seconds()
	r.rss, _, _ = host.ProcessRSS(sc.pid())
	r.throttled = limit.Throttled() - thr0
	return r, nil
}

func liveRow(scenario string, r liveStepResult, limit *host.CPULimit) *report.Row {
	row := report.NewRow(scenario).
		Set("pairs_per_s", r.pairs/r.load.Elapsed.Seconds()).
		Set("pairs_emitted", r.pairs).
		Set("pairs_expected", float64(r.load.OK)).
		Set("coverage_pct", 100*r.coverage()).
		Set("kernel_drops", r.drops).
		Set("cpu_pct", 100*r.cpu).
		Set("rss_mib", float64(r.rss)/(1<<20)).
		Set("req_per_s", r.load.Rate())
	var notes []string
	if r.load.Errors > 0 {
		notes = append(notes, fmt.Sprintf("%d failed requests", r.load.Errors))
	}
	if r.load.Rate() < 0.9*r.target {
		notes = append(notes, "generator and server could not reach the rate here")
	}
	if r.throttled > 0 {
		notes = append(notes, fmt.Sprintf("throttled in %d CFS periods", r.throttled))
	}
	row.Note = strings.Join(notes, "; ")
	return row
}

// median of xs (which it sorts).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
