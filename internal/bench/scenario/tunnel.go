package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/podtap/podtap/internal/bench/host"
	"github.com/podtap/podtap/internal/bench/load"
	"github.com/podtap/podtap/internal/bench/report"
)

// tunnelMode is one of the two ways the pod's sidecar runs in the tunnel
// scenario, and what it took over the rounds.
type tunnelMode struct {
	name string
	env  []string
	// cpuPerKPairs is, per round, the sidecar's CPU % at 1,000 pairs/s.
	cpuPerKPairs []float64
	// pairs are those made (by the sidecar, or for the tunnel by the
	// receiver) of sent, the responses the generator counted.
	pairs, sent, kernelDrops, tunnelDrops, datagrams float64
}

// Tunnel compares what the pod's sidecar spends in tunnel mode with what
// it spends parsing in the pod, on the same live traffic at the same
// bounded rate, the two modes alternating within one run so that the
// machine's drift falls on both. The tunnel's receiver (a podtap-sidecar
// with capture.source vxlan, as in the receiver rows) runs throughout, and
// its CPU is not the sidecar's; the pairs it makes show that the tunnel
// carried the traffic. Neither sidecar has a CPU limit, so that neither
// is throttled at the rate.
func Tunnel(ctx context.Context, o Options, rep *report.Report, tmp string) error {
	rate, step, rounds := 2000.0, 5*time.Second, o.Runs
	if o.Quick {
		rate, step = 1000, time.Second
	}
	env, err := setupLive(ctx, o, tmp)
	if err != nil {
		return err
	}
	err = tunnelRounds(ctx, env, rep, rate, step, rounds)
	return errors.Join(err, env.close())
}

func tunnelRounds(ctx context.Context, env *liveEnv, rep *report.Report, rate float64, step time.Duration, rounds int) error {
	rx, err := startSidecarWith(ctx, env, nil, receiverMetricsPort, receiverEnv()...)
	if err != nil {
		return fmt.Errorf("the receiver: %w", err)
	}
	defer rx.stop()
	modes := []*tunnelMode{{name: "parse"}, {name: "tunnel", env: tunnelEnv()}}
	for range rounds {
		for _, m := range modes {
			if err := tunnelRound(ctx, env, rx, m, rate, step); err != nil {
				return fmt.Errorf("%s mode: %w", m.name, err)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	parse, tunnel := modes[0], modes[1]
	ratios := make([]float64, rounds)
	for i := range rounds {
		ratios[i] = tunnel.cpuPerKPairs[i] / parse.cpuPerKPairs[i]
	}
	parseRow := tunnelRow(fmt.Sprintf("tunnel: parse-in-pod sidecar, %.0f req/s", rate), parse)
	parseRow.Note = fmt.Sprintf("%d alternating rounds of %s per mode, medians; CPU of the sidecar process alone (its threads' schedstat, in ns) over each step and its drain, neither sidecar CPU-limited",
		rounds, step)
	tunnelRow := tunnelRow(fmt.Sprintf("tunnel: tunnel-mode sidecar, %.0f req/s", rate), tunnel).
		Set("vs_parse_cpu", median(slices.Clone(tunnel.cpuPerKPairs))/median(slices.Clone(parse.cpuPerKPairs)))
	tunnelRow.Note = fmt.Sprintf("pairs made by the receiver over loopback UDP, whose receive path the kernel charges to the sender; %.1f datagrams sent per pair; ratio per round %.2f–%.2f",
		tunnel.datagrams/tunnel.sent, slices.Min(ratios), slices.Max(ratios))
	if tunnel.tunnelDrops > 0 {
		tunnelRow.Note += fmt.Sprintf("; %.0f packets not sent", tunnel.tunnelDrops)
	}
	rep.Rows = append(rep.Rows, parseRow, tunnelRow)
	return nil
}

// tunnelRound starts the sidecar in mode m, loads the pod at rate for d
// with connections opened after the sidecar started, and adds what it
// cost to m.
func tunnelRound(ctx context.Context, env *liveEnv, rx *sidecarProc, m *tunnelMode, rate float64, d time.Duration) error {
	sc, err := startSidecarWith(ctx, env, nil, sidecarMetricsPort, m.env...)
	if err != nil {
		return err
	}
	defer sc.stop()
	// Whoever makes the pairs: the sidecar itself, or the receiver.
	maker := sc
	if m.env != nil {
		maker = rx
	}
	gen := load.NewGenerator(env.addr(), liveConns)
	defer gen.Close()
	m0, err := maker.scrape()
	if err != nil {
		return err
	}
	warm := gen.Run(ctx, rate, 300*time.Millisecond, liveBodySize)
	if m0, err = maker.drained(ctx, m0.Pairs+float64(warm.OK)); err != nil {
		return err
	}
	s0, err := sc.scrape()
	if err != nil {
		return err
	}
	cpu0, err := host.TaskCPU(sc.pid())
	if err != nil {
		return err
	}
	res := gen.Run(ctx, rate, d, liveBodySize)
	m1, err := maker.drained(ctx, m0.Pairs+float64(res.OK))
	if err != nil {
		return err
	}
	cpu1, err := host.TaskCPU(sc.pid())
	if err != nil {
		return err
	}
	s1, err := sc.scrape()
	if err != nil {
		return err
	}
	if res.OK == 0 {
		return errors.New("the generator got no response")
	}
	m.cpuPerKPairs = append(m.cpuPerKPairs, 100*(cpu1-cpu0)/float64(res.OK)*1000)
	m.pairs += m1.Pairs - m0.Pairs
	m.sent += float64(res.OK)
	m.kernelDrops += s1.KernelDrops - s0.KernelDrops
	m.tunnelDrops += s1.TunnelDrops - s0.TunnelDrops
	m.datagrams += s1.TunnelDatagrams - s0.TunnelDatagrams
	slog.Info("tunnel round", "mode", m.name, "rate", res.Rate(), "cpu_s", cpu1-cpu0, "pairs", m1.Pairs-m0.Pairs, "sent", res.OK)
	return nil
}

func tunnelRow(name string, m *tunnelMode) *report.Row {
	return report.NewRow(name).
		Set("cpu_pct_per_kpairs", median(slices.Clone(m.cpuPerKPairs))).
		Set("pairs_emitted", m.pairs).
		Set("pairs_expected", m.sent).
		Set("coverage_pct", 100*m.pairs/m.sent).
		Set("kernel_drops", m.kernelDrops)
}
