package scenario

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/podtap/podtap/internal/bench/report"
	"github.com/podtap/podtap/internal/bench/synth"
)

// classifyCost replays the mixed capture with and without classification,
// alternating, at GOMAXPROCS=1 so that CPU-seconds are not blurred by
// parallel work, and adds a row of each's least CPU-seconds and their
// ratio: what classifying every string value costs.
func classifyCost(ctx context.Context, o Options, c synth.Capture, rep *report.Report, tmp string) error {
	var with, without float64
	for i := range o.Runs {
		for _, off := range []bool{false, true} {
			var extra []string
			if off {
				extra = []string{"--no-classify"}
			}
			r, err := runReplayArgs(ctx, c, 1, tmp, false, "", extra...)
			if err != nil {
				return err
			}
			if r.Unique != int64(c.Spec.Pairs()) {
				return fmt.Errorf("replaying %s (no classification %v): %d of %d pairs", c.Spec.Name, off, r.Unique, c.Spec.Pairs())
			}
			slog.Info("replayed", "capture", c.Spec.Name, "no_classify", off, "cpu", r.CPUSeconds())
			best := &with
			if off {
				best = &without
			}
			if i == 0 || r.CPUSeconds() < *best {
				*best = r.CPUSeconds()
			}
		}
	}
	row := report.NewRow(fmt.Sprintf("classification on %s, GOMAXPROCS=1", c.Spec.Name)).
		Set("cpu_s", with).
		Set("cpu_s_without", without).
		Set("cost_pct", 100*(with-without)/without)
	row.Note = fmt.Sprintf("least CPU-seconds of %d alternating replays each; target at most 10%%", o.Runs)
	rep.Rows = append(rep.Rows, row)
	return nil
}
