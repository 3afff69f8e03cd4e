package scenario

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/podtap/podtap/internal/bench/report"
	"github.com/podtap/podtap/internal/bench/synth"
)

// Replay replays each capture at GOMAXPROCS 1 and 2, and through
// GoReplay when --gor names it.
func Replay(ctx context.Context, o Options, rep *report.Report, tmp string) error {
	for _, spec := range synth.Specs(o.Quick) {
		if len(o.Captures) > 0 && !slices.Contains(o.Captures, spec.Name) {
			continue
		}
		c, err := synth.Ensure(ctx, o.Cache, spec)
		if err != nil {
			return err
		}
		rep.Captures = append(rep.Captures, c)
		// The mixed capture, the one the targets are set on, is also read
		// by tcpdump (the floor) and replayed by the CLI, in the same run.
		var fr *floorRuns
		if spec.Name == "mixed" {
			if fr, err = measureFloor(ctx, o, c, tmp); err != nil {
				return err
			}
		}
		var rows [3]*report.Row
		for _, procs := range []int{1, 2} {
			r, err := fastestReplay(ctx, o, c, procs, tmp, false)
			if err != nil {
				return err
			}
			rows[procs] = replayRow(c, procs, false, r)
			if fr != nil {
				rows[procs].Set("vs_floor_cpu", r.CPUSeconds()/fr.floor.cpu)
			}
			rep.Rows = append(rep.Rows, rows[procs])
		}
		setScaling(rows[1], rows[2])
		if fr != nil {
			rep.Rows = append(rep.Rows, floorRows(c, fr)...)
		}
		if spec.Name == "mixed" {
			// What the records cost when they go to a file, as GoReplay's
			// do in the anchor figures.
			r, err := fastestReplay(ctx, o, c, 2, tmp, true)
			if err != nil {
				return err
			}
			rep.Rows = append(rep.Rows, replayRow(c, 2, true, r))
			if err := classifyCost(ctx, o, c, rep, tmp); err != nil {
				return err
			}
		}
		if o.GoReplay != "" && spec.HTTP != nil {
			row, err := goReplayRow(ctx, o.GoReplay, c, tmp, rows[1], rows[2])
			if err != nil {
				return err
			}
			rep.Rows = append(rep.Rows, row)
		}
	}
	return nil
}

// fastestReplay runs o.Runs replays and keeps the one with the least wall
// time, as the anchor figures do.
func fastestReplay(ctx context.Context, o Options, c synth.Capture, procs int, tmp string, toFile bool) (replayResult, error) {
	var best replayResult
	for i := range o.Runs {
		profile := ""
		if o.Profile != "" && i == 0 && !toFile {
			profile = fmt.Sprintf("%s-%s-%d", o.Profile, c.Spec.Name, procs)
		}
		r, err := runReplay(ctx, c, procs, tmp, toFile, profile)
		if err != nil {
			return r, err
		}
		slog.Info("replayed", "capture", c.Spec.Name, "gomaxprocs", procs, "to_file", toFile, "wall", r.WallSeconds, "pairs", r.Unique)
		if i == 0 || r.WallSeconds < best.WallSeconds {
			best = r
		}
	}
	return best, nil
}

// setScaling gives the GOMAXPROCS=2 row what the second core brought:
// its throughput and its pairs per CPU-second as multiples of one core's.
func setScaling(one, two *report.Row) {
	two.Set("vs_procs1_pairs_per_s", two.Figures["pairs_per_s"]/one.Figures["pairs_per_s"]).
		Set("vs_procs1_pairs_per_cpu_s", two.Figures["pairs_per_cpu_s"]/one.Figures["pairs_per_cpu_s"])
}

func replayRow(c synth.Capture, procs int, toFile bool, r replayResult) *report.Row {
	n := c.Spec.Pairs()
	name := fmt.Sprintf("replay %s, GOMAXPROCS=%d", c.Spec.Name, procs)
	if toFile {
		name = fmt.Sprintf("replay %s to a tmpfs file, GOMAXPROCS=%d", c.Spec.Name, procs)
	}
	row := report.NewRow(name).
		Set("pairs_per_s", float64(r.Unique)/r.WallSeconds).
		Set("mb_per_s", float64(c.Stats.Bytes)/r.WallSeconds/1e6).
		Set("wall_s", r.WallSeconds).
		Set("cpu_s", r.CPUSeconds()).
		Set("pairs_per_cpu_s", float64(r.Unique)/r.CPUSeconds()).
		Set("allocs_per_packet", float64(r.Mallocs)/float64(r.Packets)).
		Set("allocs_per_pair", float64(r.Mallocs)/float64(n)).
		Set("pairs_emitted", float64(r.Unique)).
		Set("pairs_expected", float64(n)).
		Set("coverage_pct", 100*float64(r.Unique)/float64(n)).
		Set("rss_mib", float64(r.MaxRSSBytes)/(1<<20))
	var notes []string
	if r.Duplicates > 0 {
		notes = append(notes, fmt.Sprintf("%d duplicates", r.Duplicates))
	}
	if r.Unknown > 0 {
		notes = append(notes, fmt.Sprintf("%d unknown records", r.Unknown))
	}
	for _, reason := range slices.Sorted(maps.Keys(r.Drops)) {
		notes = append(notes, fmt.Sprintf("dropped %s: %.0f", reason, r.Drops[reason]))
	}
	if toFile {
		notes = append(notes, fmt.Sprintf("%.2f of the CPU-s in the kernel", r.SysSeconds))
	}
	if procs == 1 {
		notes = append(notes, fmt.Sprintf("%d packets, %.0f MB, %d retransmissions",
			c.Stats.Packets, float64(c.Stats.Bytes)/1e6, c.Stats.Retransmissions))
	}
	row.Note = strings.Join(notes, "; ")
	return row
}
