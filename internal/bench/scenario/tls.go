package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/podtap/podtap/internal/bench/host"
	"github.com/podtap/podtap/internal/bench/load"
	"github.com/podtap/podtap/internal/bench/report"
)

// tlsPort is nginx's HTTPS port in the tls scenario.
const tlsPort = 8443

// tlsMode is one of the two ways the sidecar runs in the tls scenario's
// fixed-rate rounds, and what they measured.
type tlsMode struct {
	on bool
	// cpuPerReq is, per round, the nginx worker's CPU seconds per request.
	cpuPerReq []float64
	// pairs made of sent (the responses the generator read), and the TLS
	// events read and lost, over the rounds.
	pairs, sent, events, lost float64
	// slowest is the lowest rate a round achieved.
	slowest float64
}

func (m *tlsMode) name() string {
	if m.on {
		return "on"
	}
	return "off"
}

// TLS measures TLS capture on Debian's nginx (OpenSSL 3, libssl.so.3)
// serving HTTPS in a pod whose PID namespace the sidecar shares, as the
// webhook sets a pod up with podtap.io/tls. Packet capture is kept off
// nginx's port, so that what the sidecar spends is TLS capture's.
//
// Two measurements: the TLS events the sidecar reads per CPU-second of
// its own, with nginx driven by wrk as fast as it goes (all sharing the
// machine's CPUs, as in the live-large row); and the nginx worker's CPU
// per request at a fixed rate with TLS capture off and on, the two
// alternating in one run (each round with a fresh sidecar and fresh
// connections), nginx's worker alone on the last CPU, so that the ratio
// is the cost of the uprobes and the syscall tracepoint, which run on the
// application's own threads.
func TLS(ctx context.Context, o Options, rep *report.Report, tmp string) error {
	// The rate is one the bench's generator keeps on two shared cores:
	// CPU per request depends on the rate (how many requests one wakeup
	// of the worker serves), so both modes must reach it.
	d, rate, step := 10*time.Second, 1000.0, 5*time.Second
	if o.Quick {
		d, rate, step = time.Second, 500, time.Second
	}
	wrk, err := load.NewWrk()
	if err != nil {
		return err
	}
	allowed, err := host.AllowedCPUs()
	if err != nil {
		return err
	}
	env, err := setupPodAt(o, tmp, tlsPod)
	if err != nil {
		return err
	}
	pids, err := newPodPIDs(env.pod)
	if err != nil {
		return errors.Join(err, env.close())
	}
	cert, err := load.NewServerCert(env.podIP)
	if err != nil {
		return errors.Join(err, pids.close(), env.close())
	}
	addr := net.JoinHostPort(env.podIP, strconv.Itoa(tlsPort))
	ng, err := load.StartNginxTLS(pids.start, pids.command, addr, filepath.Join(tmp, "nginx-tls"), liveBodySize, cert)
	if err != nil {
		return errors.Join(err, pids.close(), env.close())
	}
	err = tlsThroughput(ctx, env, pids, ng, wrk, allowed, d, rep)
	if err == nil {
		err = tlsAppCost(ctx, env, pids, ng, cert, allowed, rate, step, o.Runs, rep)
	}
	return errors.Join(err, ng.Stop(), pids.close(), env.close())
}

// startTLSSidecar starts the sidecar in the pod's PID namespace with TLS
// capture on or off and waits until it captures; on, until it has probed
// nginx's libssl.
func startTLSSidecar(ctx context.Context, env *liveEnv, pids *podPIDs, on bool) (*sidecarProc, error) {
	metricsAddr := env.podIP + ":" + strconv.Itoa(sidecarMetricsPort)
	// appPort carries nothing here: packet capture stays off nginx's port.
	cmd := pids.command(env.sidecarBin, "run", "--interface", "eth0", "--ports", strconv.Itoa(appPort),
		"--sink", "stdout", "--metrics-addr", metricsAddr, "--log-level", "warn")
	capture := "off"
	if on {
		capture = "openssl"
	}
	cmd.Env = sidecarEnv(env, nil, []string{"PODTAP_CAPTURE_TLS=" + capture})
	stderr, err := os.CreateTemp(env.tmp, "sidecar-tls-*.log")
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	pid, err := pids.start(cmd)
	if err != nil {
		stderr.Close()
		return nil, fmt.Errorf("starting the sidecar: %w", err)
	}
	s := &sidecarProc{cmd: cmd, proc: pid, metrics: "http://" + metricsAddr, stderr: stderr}
	if err := s.waitReady(ctx); err != nil {
		return nil, errors.Join(err, s.stop())
	}
	for deadline := time.Now().Add(10 * time.Second); on; time.Sleep(100 * time.Millisecond) {
		m, err := s.scrape()
		if err != nil {
			return nil, errors.Join(err, s.stop())
		}
		if m.TLSProbed > 0 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, errors.Join(fmt.Errorf("TLS capture probed nothing in 10s: %s", s.logTail()), s.stop())
		}
	}
	return s, nil
}

// tlsThroughput is the first row: wrk as fast as it goes, the TLS events
// the sidecar read per CPU-second, and its coverage (pairs over the
// requests nginx logged).
func tlsThroughput(ctx context.Context, env *liveEnv, pids *podPIDs, ng *load.Nginx, wrk *load.Wrk, cpus []int, d time.Duration, rep *report.Report) error {
	sc, err := startTLSSidecar(ctx, env, pids, true)
	if err != nil {
		return err
	}
	defer sc.stop()
	r, err := runWrkRound(ctx, sc, ng, wrk, fmt.Sprintf("https://%s:%d%s", env.podIP, tlsPort, ng.Path), cpus, d)
	if err != nil {
		return err
	}
	m0, m1, wall, served := r.m0, r.m1, r.wall, r.served
	pairs, events, cpu := r.pairs(), m1.TLSEvents-m0.TLSEvents, r.cpu
	if events == 0 || cpu <= 0 {
		return fmt.Errorf("TLS capture read %v events with %v CPU-s: %s", events, cpu, sc.logTail())
	}
	row := report.NewRow(fmt.Sprintf("tls: nginx (OpenSSL 3) HTTPS, wrk %d conns, TLS capture, sidecar unlimited", largeConns)).
		Set("tls_events_per_s", events/wall.Seconds()).
		Set("tls_events_per_cpu_s", events/cpu).
		Set("pairs_per_s", pairs/wall.Seconds()).
		Set("pairs_emitted", pairs).
		Set("pairs_expected", served).
		Set("coverage_pct", 100*pairs/max(served, 1)).
		Set("cpu_pct", 100*cpu/wall.Seconds()).
		Set("req_per_s", r.wrk.Rate())
	row.Note = fmt.Sprintf("%.2f events per request, %.0f lost (podtap_tls_events_lost_total), %.0f of them at the full ring buffer (capture.tls_ring_bytes); app, wrk and sidecar share CPU %s; the sidecar's CPU is its process's (the probes run on nginx's threads, and on wrk's, which maps the same libssl and whose events the kernel drops as another PID namespace's)",
		events/max(served, 1), m1.TLSLost-m0.TLSLost, m1.TLSRingFull-m0.TLSRingFull, host.CPUList(cpus))
	rep.Rows = append(rep.Rows, row)
	slog.Info("tls throughput", "requests", served, "pairs", pairs, "events", events, "cpu", cpu, "lost", m1.TLSLost-m0.TLSLost)
	return nil
}

// tlsAppCost is the second pair of rows: the nginx worker's CPU per
// request at rate, TLS capture off and on, alternating rounds.
func tlsAppCost(ctx context.Context, env *liveEnv, pids *podPIDs, ng *load.Nginx, cert *load.ServerCert, allowed []int, rate float64, step time.Duration, rounds int, rep *report.Report) error {
	worker, err := host.WaitChild(ng.PID(), 5*time.Second)
	if err != nil {
		return fmt.Errorf("nginx's worker: %w", err)
	}
	cpus := host.SplitCPUs(allowed)
	if err := host.Pin(worker, cpus.App); err != nil {
		return err
	}
	// The bench (the generator) keeps off the worker's CPU.
	if err := host.Pin(os.Getpid(), cpus.Rest); err != nil {
		return err
	}
	defer func() {
		if err := host.Pin(os.Getpid(), allowed); err != nil {
			slog.Warn("the bench stays pinned", "err", err)
		}
	}()
	modes := []*tlsMode{{on: false}, {on: true}}
	for range rounds {
		for _, m := range modes {
			if err := tlsRound(ctx, env, pids, cert, worker, cpus, m, rate, step); err != nil {
				return fmt.Errorf("TLS capture %s: %w", m.name(), err)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	off, on := modes[0], modes[1]
	ratios := make([]float64, rounds)
	for i := range rounds {
		ratios[i] = on.cpuPerReq[i] / off.cpuPerReq[i]
	}
	offCPU, onCPU := median(slices.Clone(off.cpuPerReq)), median(slices.Clone(on.cpuPerReq))
	name := fmt.Sprintf("tls: nginx worker at %.0f req/s, TLS capture", rate)
	offRow := report.NewRow(name+" off (median)").
		Set("app_cpu_us_per_req", 1e6*offCPU).
		Set("req_per_s", off.sent/(float64(rounds)*step.Seconds()))
	offRow.Note = fmt.Sprintf("%d alternating rounds of %s per mode, each with a fresh sidecar and 64 fresh keep-alive HTTPS connections from the bench's generator (Go crypto/tls, HTTP/1.1); the worker's CPU from its schedstat; %s",
		rounds, step, cpus)
	onRow := report.NewRow(name+" on (median)").
		Set("app_cpu_us_per_req", 1e6*onCPU).
		Set("vs_tls_off_cpu", onCPU/offCPU).
		Set("req_per_s", on.sent/(float64(rounds)*step.Seconds())).
		Set("pairs_emitted", on.pairs).
		Set("pairs_expected", on.sent).
		Set("coverage_pct", 100*on.pairs/on.sent)
	onRow.Note = fmt.Sprintf("ratio per round %.3f–%.3f; %.2f TLS events per request, %.0f lost",
		slices.Min(ratios), slices.Max(ratios), on.events/on.sent, on.lost)
	for _, m := range modes {
		if m.slowest < 0.9*rate {
			onRow.Note += fmt.Sprintf("; with TLS capture %s a round reached only %.0f req/s, and the CPU per request of unequal rates is not comparable", m.name(), m.slowest)
		}
	}
	rep.Rows = append(rep.Rows, offRow, onRow)
	return nil
}

// tlsRound starts the sidecar in mode m, loads nginx at rate for d with
// connections opened after the sidecar started, and adds the worker's
// CPU per request to m.
func tlsRound(ctx context.Context, env *liveEnv, pids *podPIDs, cert *load.ServerCert, worker int, cpus host.CPUSplit, m *tlsMode, rate float64, d time.Duration) error {
	sc, err := startTLSSidecar(ctx, env, pids, m.on)
	if err != nil {
		return err
	}
	defer sc.stop()
	if err := host.Pin(sc.pid(), cpus.Rest); err != nil {
		return err
	}
	gen := load.NewHTTPSGenerator(net.JoinHostPort(env.podIP, strconv.Itoa(tlsPort)), liveConns, cert.Client)
	defer gen.Close()
	s0, err := sc.scrape()
	if err != nil {
		return err
	}
	// The handshakes happen here, outside the measured step.
	warm := gen.Run(ctx, rate, 300*time.Millisecond, liveBodySize)
	if warm.Errors > 0 || warm.OK == 0 {
		return fmt.Errorf("warm-up: %d of %d requests failed", warm.Errors, warm.Errors+warm.OK)
	}
	m0 := s0
	if m.on {
		if m0, err = sc.drained(ctx, s0.Pairs+float64(warm.OK)); err != nil {
			return err
		}
	}
	c0, err := host.TaskCPU(worker)
	if err != nil {
		return err
	}
	res := gen.Run(ctx, rate, d, liveBodySize)
	c1, err := host.TaskCPU(worker)
	if err != nil {
		return err
	}
	if res.Errors > 0 || res.OK == 0 {
		return fmt.Errorf("%d of %d requests failed at %.0f req/s", res.Errors, res.Errors+res.OK, rate)
	}
	if c1 <= c0 {
		return fmt.Errorf("the nginx worker's CPU time did not grow over a round (%.6f s to %.6f s)", c0, c1)
	}
	m.cpuPerReq = append(m.cpuPerReq, (c1-c0)/float64(res.OK))
	m.sent += float64(res.OK)
	if len(m.cpuPerReq) == 1 || res.Rate() < m.slowest {
		m.slowest = res.Rate()
	}
	if m.on {
		m1, err := sc.drained(ctx, m0.Pairs+float64(res.OK))
		if err != nil {
			return err
		}
		m.pairs += m1.Pairs - m0.Pairs
		m.events += m1.TLSEvents - m0.TLSEvents
		m.lost += m1.TLSLost - m0.TLSLost
	}
	slog.Info("tls round", "capture", m.name(), "rate", res.Rate(), "worker_cpu_us_per_req", 1e6*(c1-c0)/float64(res.OK), "sent", res.OK)
	return nil
}
