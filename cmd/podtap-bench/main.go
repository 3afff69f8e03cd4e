// Command podtap-bench measures podtap: replay throughput on captures it
// generates from real traffic (and GoReplay's on the same captures), live
// capture under a 0.25 CPU limit at rising rates, memory with many idle
// connections, the cost to the application, the receiver of tunnelled
// traffic, tunnel mode's CPU against parsing in the pod, and TLS capture's
// throughput and cost to the application. It prints one table per run and
// writes the same as JSON.
//
//	go run ./cmd/podtap-bench [--quick] [--json FILE] [--gor PATH] [--scenarios LIST]
//
// The live scenarios need root (network namespaces, packet capture,
// cgroups); without it they are skipped and the table says so.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/podtap/podtap/internal/bench/host"
	"github.com/podtap/podtap/internal/bench/load"
	"github.com/podtap/podtap/internal/bench/report"
	"github.com/podtap/podtap/internal/bench/scenario"
)

// options are the bench's flags: what the scenarios take, and which of
// them run and where the table goes.
type options struct {
	scenario.Options
	jsonPath  string
	scenarios []string
}

// allScenarios are the kinds of rows, in the order they run.
var allScenarios = []string{"replay", "live", "live-large", "idle", "overhead", "receiver", "tunnel", "tls"}

func main() {
	args := os.Args[1:]
	var err error
	switch {
	case len(args) > 0 && args[0] == scenario.ReplayChildCmd:
		err = scenario.ReplayChild(args[1:])
	case len(args) > 0 && args[0] == load.ServeCmd:
		err = load.ServeChild(args[1:])
	case len(args) > 0 && args[0] == load.HoldCmd:
		err = load.HoldChild(args[1:])
	default:
		err = bench(args)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "podtap-bench:", err)
		os.Exit(1)
	}
}

func parseOptions(args []string) (options, error) {
	var o options
	var scenarios, captures, sidecarEnv string
	fs := flag.NewFlagSet("podtap-bench", flag.ContinueOnError)
	fs.BoolVar(&o.Quick, "quick", false, "small captures and short runs (CI: a few seconds)")
	fs.StringVar(&o.jsonPath, "json", "", "also write the table as JSON to `FILE`")
	fs.StringVar(&o.GoReplay, "gor", "", "GoReplay binary: replay the same captures through it too")
	fs.StringVar(&scenarios, "scenarios", strings.Join(allScenarios, ","), "comma-separated `LIST` of "+strings.Join(allScenarios, ", "))
	fs.StringVar(&captures, "captures", "", "comma-separated captures to replay (default all: mixed, small, grpc, many-conns)")
	fs.IntVar(&o.Runs, "runs", 0, "replays of each capture per GOMAXPROCS, the fastest counting, and the tunnel and tls scenarios' rounds per mode (default 3, --quick 1)")
	fs.StringVar(&o.Cache, "cache", defaultCache(), "where generated captures are kept")
	fs.StringVar(&o.Profile, "profile", "", "write CPU and allocation profiles of each capture's first replay to `PREFIX`-NAME-PROCS.{cpu,allocs}.pprof")
	fs.StringVar(&o.Sidecar, "sidecar", "", "podtap-sidecar binary for the live scenarios (default: built with go build)")
	fs.StringVar(&sidecarEnv, "sidecar-env", "", "comma-separated `KEY=VALUE` variables added to the live scenarios' sidecar, e.g. PODTAP_CAPTURE_RING_BYTES=32Mi,GOGC=100")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range strings.Split(scenarios, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(allScenarios, s) {
			return o, fmt.Errorf("--scenarios: %q is not one of %s", s, strings.Join(allScenarios, ", "))
		}
		o.scenarios = append(o.scenarios, s)
	}
	for _, kv := range strings.Split(sidecarEnv, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return o, fmt.Errorf("--sidecar-env: %q is not KEY=VALUE", kv)
		}
		o.SidecarEnv = append(o.SidecarEnv, kv)
	}
	for _, c := range strings.Split(captures, ",") {
		if c = strings.TrimSpace(c); c != "" {
			o.Captures = append(o.Captures, c)
		}
	}
	if o.Runs <= 0 {
		o.Runs = 3
		if o.Quick {
			o.Runs = 1
		}
	}
	return o, nil
}

// scratchDir is where records go during the runs: memory (tmpfs) when the
// machine has /dev/shm, so that the figures measure podtap, not how the
// disk absorbs a gigabyte of writes (its writeback throttling made them
// swing by half from run to run).
func scratchDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

// defaultCache is ${PODTAP_CACHE:-$HOME/.cache/podtap}/bench.
func defaultCache() string {
	dir := os.Getenv("PODTAP_CACHE")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		dir = filepath.Join(home, ".cache", "podtap")
	}
	return filepath.Join(dir, "bench")
}

func bench(args []string) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := host.RaiseFileLimit(); err != nil {
		slog.Warn("the many-connection capture and idle scenario will fail", "err", err)
	}
	rep := &report.Report{Started: time.Now().UTC(), Machine: report.ThisMachine(), Quick: o.Quick, Columns: report.Columns}
	tmp, err := os.MkdirTemp(scratchDir(), "podtap-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.Sidecar == "" && slices.ContainsFunc(o.scenarios, func(s string) bool { return s != "replay" }) {
		if o.Sidecar, err = scenario.BuildSidecar(ctx, tmp); err != nil {
			return err
		}
	}
	var errs []error
	for _, s := range o.scenarios {
		var err error
		switch s {
		case "replay":
			err = scenario.Replay(ctx, o.Options, rep, tmp)
		case "live":
			err = scenario.Live(ctx, o.Options, rep, tmp)
		case "live-large":
			err = scenario.LiveLarge(ctx, o.Options, rep, tmp)
		case "idle":
			err = scenario.Idle(ctx, o.Options, rep, tmp)
		case "overhead":
			err = scenario.Overhead(ctx, o.Options, rep, tmp)
		case "receiver":
			err = scenario.Receiver(ctx, o.Options, rep, tmp)
		case "tunnel":
			err = scenario.Tunnel(ctx, o.Options, rep, tmp)
		case "tls":
			err = scenario.TLS(ctx, o.Options, rep, tmp)
		}
		if err != nil {
			slog.Error("scenario failed", "scenario", s, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
			rep.Rows = append(rep.Rows, &report.Row{Scenario: s, Figures: map[string]float64{}, Note: "FAILED: " + err.Error()})
		}
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Println()
	if err := rep.Print(os.Stdout); err != nil {
		return err
	}
	if o.jsonPath != "" {
		if err := rep.WriteJSON(o.jsonPath); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d scenario(s) failed: %v", len(errs), errs)
	}
	return nil
}
