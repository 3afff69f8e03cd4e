package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/podtap/podtap/internal/bench/host"
	"github.com/podtap/podtap/internal/bench/load"
	"github.com/podtap/podtap/internal/bench/report"
)

// tunnelPort is the receiver's VXLAN port in the live pod: not 4789, so
// that a receiver the host runs is not in the way.
const tunnelPort = 14789

// receiverEnv makes a podtap-sidecar the receiver of mirrored traffic:
// the VXLAN source on tunnelPort, the pipeline central receivers run.
// podtap-receiver itself is this pipeline plus pod names from a
// Kubernetes API, which the bench has none of.
func receiverEnv() []string {
	return []string{"PODTAP_CAPTURE_SOURCE=vxlan", "PODTAP_CAPTURE_VXLAN_PORT=" + strconv.Itoa(tunnelPort)}
}

// tunnelEnv makes a podtap-sidecar capture the pod's eth0 in tunnel mode,
// sending to the receiver in the same namespace over loopback.
func tunnelEnv() []string {
	return []string{"PODTAP_MODE=tunnel", "PODTAP_TUNNEL_TARGET=127.0.0.1:" + strconv.Itoa(tunnelPort)}
}

// Receiver measures the receiver on mirrored traffic: the live pod's
// sidecar in tunnel mode wraps every packet of the load in VXLAN and sends
// it over loopback UDP to a second podtap-sidecar with capture.source
// vxlan, whose pairs per CPU-second are the figure. The rates are bounded
// steps, so that a receiver that keeps up is told from one that drops:
// each row gives its coverage and the drops of the receiver's socket, the
// sender's capture ring and the sender's socket.
func Receiver(ctx context.Context, o Options, rep *report.Report, tmp string) error {
	rates := []float64{2000, 5000, 10000, 15000}
	step := 5 * time.Second
	if o.Quick {
		rates, step = []float64{1000}, time.Second
	}
	env, err := setupLive(ctx, o, tmp)
	if err != nil {
		return err
	}
	err = receiverSteps(ctx, env, rep, rates, step)
	return errors.Join(err, env.close())
}

func receiverSteps(ctx context.Context, env *liveEnv, rep *report.Report, rates []float64, step time.Duration) error {
	rx, err := startSidecarWith(ctx, env, nil, receiverMetricsPort, receiverEnv()...)
	if err != nil {
		return fmt.Errorf("the receiver: %w", err)
	}
	defer rx.stop()
	tx, err := startSidecarWith(ctx, env, nil, sidecarMetricsPort, tunnelEnv()...)
	if err != nil {
		return fmt.Errorf("the tunnel-mode sidecar: %w", err)
	}
	defer tx.stop()
	gen := load.NewGenerator(env.addr(), liveConns)
	defer gen.Close()
	warm := gen.Run(ctx, 500, 500*time.Millisecond, liveBodySize)
	if _, err := rx.drained(ctx, float64(warm.OK)); err != nil {
		return err
	}
	for i, rate := range rates {
		r, err := receiverStep(ctx, rx, tx, gen, rate, step)
		if err != nil {
			return err
		}
		slog.Info("receiver step", "rate", rate, "achieved", r.load.Rate(), "coverage", r.coverage(), "drops", r.drops, "cpu", r.cpu)
		row := receiverRow(r)
		if i == 0 {
			row.Note = strings.TrimSuffix(receiverNote+"; "+row.Note, "; ")
		}
		rep.Rows = append(rep.Rows, row)
		if r.load.Rate() < 0.9*rate || r.coverage() < 0.99 || ctx.Err() != nil {
			break
		}
	}
	return nil
}

// receiverStepResult is one rate step: what the generator did and what
// the receiver made of it.
type receiverStepResult struct {
	liveStepResult
	cpuSeconds float64 // the receiver's, over the step and its drain
	// senderDrops are the sender's capture ring's drops; tunnelDrops the
	// packets its socket did not take.
	senderDrops, tunnelDrops float64
}

func receiverStep(ctx context.Context, rx, tx *sidecarProc, gen *load.Generator, rate float64, d time.Duration) (receiverStepResult, error) {
	r := receiverStepResult{liveStepResult: liveStepResult{target: rate}}
	m0, err := rx.scrape()
	if err != nil {
		return r, err
	}
	s0, err := tx.scrape()
	if err != nil {
		return r, err
	}
	cpu0, err := host.TaskCPU(rx.pid())
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	r.load = gen.Run(ctx, rate, d, liveBodySize)
	m1, err := rx.drained(ctx, m0.Pairs+float64(r.load.OK))
	if err != nil {
		return r, err
	}
	s1, err := tx.scrape()
	if err != nil {
		return r, err
	}
	cpu1, err := host.TaskCPU(rx.pid())
	if err != nil {
		return r, err
	}
	r.pairs = m1.Pairs - m0.Pairs
	r.drops = m1.KernelDrops - m0.KernelDrops
	r.cpuSeconds = cpu1 - cpu0
	r.cpu = r.cpuSeconds / time.Since(t0).Seconds()
	r.rss, _, _ = host.ProcessRSS(rx.pid())
	r.senderDrops = s1.KernelDrops - s0.KernelDrops
	r.tunnelDrops = s1.TunnelDrops - s0.TunnelDrops
	return r, nil
}

// receiverNote says, once, what the receiver rows measure.
const receiverNote = "receiver: podtap-sidecar run with capture.source vxlan (podtap-receiver's pipeline without the pod names, which need a Kubernetes API), " +
	"fed by the pod's sidecar in tunnel mode; CPU-s are the receiver's alone (its threads' schedstat, in ns) over the step and its drain; kernel drops are its socket buffer's"

func receiverRow(r receiverStepResult) *report.Row {
	row := report.NewRow(fmt.Sprintf("receiver %.0f req/s, tunnelled over loopback", r.target)).
		Set("pairs_per_s", r.pairs/r.load.Elapsed.Seconds()).
		Set("cpu_s", r.cpuSeconds).
		Set("pairs_emitted", r.pairs).
		Set("pairs_expected", float64(r.load.OK)).
		Set("coverage_pct", 100*r.coverage()).
		Set("kernel_drops", r.drops).
		Set("receiver_cpu_pct", 100*r.cpu).
		Set("rss_mib", float64(r.rss)/(1<<20)).
		Set("req_per_s", r.load.Rate())
	if r.cpuSeconds > 0 {
		row.Set("pairs_per_cpu_s", r.pairs/r.cpuSeconds)
	}
	var notes []string
	if r.senderDrops > 0 || r.tunnelDrops > 0 {
		notes = append(notes, fmt.Sprintf("the sender lost %.0f packets at its capture ring and %.0f at its socket", r.senderDrops, r.tunnelDrops))
	}
	if r.load.Errors > 0 {
		notes = append(notes, fmt.Sprintf("%d failed requests", r.load.Errors))
	}
	if r.load.Rate() < 0.9*r.target {
		notes = append(notes, "generator and server could not reach the rate here")
	}
	row.Note = strings.Join(notes, "; ")
	return row
}
