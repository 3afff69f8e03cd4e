package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/podtap/podtap/internal/bench/report"
	"github.com/podtap/podtap/internal/bench/synth"
	"github.com/podtap/podtap/internal/testenv"
)

// childRun is what one run of an outside command cost: its own CPU (from
// its rusage, so nothing else the bench runs is counted) and wall time.
type childRun struct {
	wall, cpu float64
}

// runChild runs cmd to its end and measures it.
func runChild(cmd *exec.Cmd) (childRun, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return childRun{}, fmt.Errorf("%w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	wall := time.Since(start).Seconds()
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return childRun{}, errors.New("no resource usage for the child")
	}
	return childRun{wall: wall, cpu: tvSeconds(ru.Utime) + tvSeconds(ru.Stime)}, nil
}

// floorCmd is the libpcap read floor: tcpdump reading every packet of the
// capture and writing it to /dev/null, which a sniffer cannot undercut
// by much since it must read the same packets.
func floorCmd(ctx context.Context, tcpdump, capture string) *exec.Cmd {
	return exec.CommandContext(ctx, tcpdump, "-r", capture, "-w", os.DevNull)
}

// cliCmd is the replay as users run it: the real podtap-sidecar binary,
// its own GOMAXPROCS, its records on stdout redirected to a file. It gets
// no PODTAP_ variable of the bench's or the test suite's (PODTAP_CACHE,
// PODTAP_GRPC_NODE_MODULES): the sidecar refuses those that are not its
// settings, and a user's shell has none.
func cliCmd(ctx context.Context, sidecarBin, capture string, out *os.File) *exec.Cmd {
	cmd := exec.CommandContext(ctx, sidecarBin, "replay", "--no-filter", capture)
	cmd.Stdout = out
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "GOMAXPROCS=") || strings.HasPrefix(kv, "PODTAP_")
	})
	return cmd
}

// floorRuns are the same run's read floor and CLI replays of one capture,
// each the median of runs that alternate between the two, so that a drift
// of the machine's speed weighs on both alike.
type floorRuns struct {
	floor, cli childRun
	cliPairs   completeness
}

// measureFloor alternates tcpdump's read of c with the CLI's replay of it,
// o.Runs of each (at least 3, for a median), and returns the medians.
// With no tcpdump the floor is skipped, loudly, except on CI.
func measureFloor(ctx context.Context, o Options, c synth.Capture, tmp string) (*floorRuns, error) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		if testenv.OnCI() {
			return nil, fmt.Errorf("the read floor needs tcpdump, which .ci/run installs: %w", err)
		}
		slog.Warn("NOT MEASURING the read floor: tcpdump is not installed (bash hack/deps.sh installs it)")
		return nil, nil
	}
	if o.Sidecar == "" {
		if o.Sidecar, err = BuildSidecar(ctx, tmp); err != nil {
			return nil, err
		}
	}
	outPath := filepath.Join(tmp, c.Spec.Name+"-cli.jsonl")
	defer os.Remove(outPath)
	runs := max(o.Runs, 3)
	var floors, clis []childRun
	var pairs completeness
	for range runs {
		f, err := runChild(floorCmd(ctx, tcpdump, c.Path))
		if err != nil {
			return nil, fmt.Errorf("tcpdump -r %s: %w", c.Path, err)
		}
		floors = append(floors, f)
		out, err := os.Create(outPath)
		if err != nil {
			return nil, err
		}
		r, err := runChild(cliCmd(ctx, o.Sidecar, c.Path, out))
		_ = out.Close()
		if err != nil {
			return nil, fmt.Errorf("podtap-sidecar replay %s: %w", c.Path, err)
		}
		clis = append(clis, r)
		if pairs, err = countFile(outPath, c.Spec.Pairs()); err != nil {
			return nil, err
		}
		slog.Info("read floor and CLI", "capture", c.Spec.Name, "tcpdump_cpu", f.cpu, "cli_cpu", r.cpu, "pairs", pairs.Unique)
	}
	return &floorRuns{floor: medianRun(floors), cli: medianRun(clis), cliPairs: pairs}, nil
}

func countFile(path string, n int) (completeness, error) {
	f, err := os.Open(path)
	if err != nil {
		return completeness{}, err
	}
	defer f.Close()
	return checkRecords(f, seqMarker, n)
}

// medianRun is the run of median CPU time.
func medianRun(runs []childRun) childRun {
	s := slices.Clone(runs)
	slices.SortFunc(s, func(a, b childRun) int {
		switch {
		case a.cpu < b.cpu:
			return -1
		case a.cpu > b.cpu:
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

// floorRows are the read floor's row and the CLI's, the latter's CPU as a
// multiple of the floor's.
func floorRows(c synth.Capture, fr *floorRuns) []*report.Row {
	n := c.Spec.Pairs()
	floor := report.NewRow("tcpdump -r "+c.Spec.Name+" -w /dev/null (read floor)").
		Set("mb_per_s", float64(c.Stats.Bytes)/fr.floor.wall/1e6).
		Set("wall_s", fr.floor.wall).
		Set("cpu_s", fr.floor.cpu).
		Set("vs_floor_cpu", 1)
	floor.Note = "libpcap reading every packet: what any sniffer of this file must at least spend; median of runs alternating with the CLI's"
	cli := report.NewRow("podtap-sidecar replay --no-filter "+c.Spec.Name+" > file").
		Set("pairs_per_s", float64(fr.cliPairs.Unique)/fr.cli.wall).
		Set("mb_per_s", float64(c.Stats.Bytes)/fr.cli.wall/1e6).
		Set("wall_s", fr.cli.wall).
		Set("cpu_s", fr.cli.cpu).
		Set("pairs_per_cpu_s", float64(fr.cliPairs.Unique)/fr.cli.cpu).
		Set("pairs_emitted", float64(fr.cliPairs.Unique)).
		Set("pairs_expected", float64(n)).
		Set("coverage_pct", 100*float64(fr.cliPairs.Unique)/float64(n)).
		Set("vs_floor_cpu", fr.cli.cpu/fr.floor.cpu)
	cli.Note = "the CLI as users run it (all CPUs, stdout to a tmpfs file); median of runs alternating with the floor's"
	if fr.cliPairs.Duplicates > 0 {
		cli.Note += fmt.Sprintf("; %d duplicates", fr.cliPairs.Duplicates)
	}
	return []*report.Row{floor, cli}
}
