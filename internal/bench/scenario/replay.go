package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/bench/host"
	"github.com/podtap/podtap/internal/bench/synth"
	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/sink"
)

// ReplayChildCmd is the hidden command the bench runs itself as for each
// replay, so that GOMAXPROCS, the resource usage and the allocation counts
// are those of one replay alone.
const ReplayChildCmd = "replay-child"

// replayResult is what one replay measured.
type replayResult struct {
	WallSeconds float64 `json:"wall_seconds"`
	UserSeconds float64 `json:"user_seconds"`
	SysSeconds  float64 `json:"sys_seconds"`
	Mallocs     uint64  `json:"mallocs"`
	Packets     uint64  `json:"packets"`
	MaxRSSBytes int64   `json:"max_rss_bytes"`
	completeness
	Drops map[string]float64 `json:"drops,omitempty"`
}

// CPUSeconds is user plus system time.
func (r replayResult) CPUSeconds() float64 { return r.UserSeconds + r.SysSeconds }

// runReplay replays c in a child process at GOMAXPROCS procs and returns
// what the child measured. The child checks its records as it writes them,
// or, with toFile, writes them to a file under tmp and checks that after.
// A profile prefix has the child write its CPU and allocation profiles
// there.
func runReplay(ctx context.Context, c synth.Capture, procs int, tmp string, toFile bool, profile string) (replayResult, error) {
	return runReplayArgs(ctx, c, procs, tmp, toFile, profile)
}

// runReplayArgs is runReplay with more arguments for the child.
func runReplayArgs(ctx context.Context, c synth.Capture, procs int, tmp string, toFile bool, profile string, extra ...string) (replayResult, error) {
	args := append([]string{ReplayChildCmd, "--capture", c.Path, "--pairs", strconv.Itoa(c.Spec.Pairs())}, extra...)
	if toFile {
		out := filepath.Join(tmp, c.Spec.Name+".jsonl")
		defer os.Remove(out)
		args = append(args, "--out", out)
	}
	if c.Protoset != "" {
		args = append(args, "--protoset", c.Protoset)
	}
	if profile != "" {
		args = append(args, "--cpuprofile", profile+".cpu.pprof", "--memprofile", profile+".allocs.pprof")
	}
	self, err := os.Executable()
	if err != nil {
		return replayResult{}, err
	}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return replayResult{}, fmt.Errorf("replaying %s: %w: %s", c.Spec.Name, err, stderr.Bytes())
	}
	var r replayResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return r, fmt.Errorf("replaying %s: the child's result: %w", c.Spec.Name, err)
	}
	return r, nil
}

// ReplayChild is the child's side: replay one capture through the real
// pipeline into the JSON-lines sink, measure, and check the records.
func ReplayChild(args []string) error {
	fs := flag.NewFlagSet(ReplayChildCmd, flag.ContinueOnError)
	path := fs.String("capture", "", "capture file")
	out := fs.String("out", "", "records file (default: checked as written, not kept)")
	protoset := fs.String("protoset", "", "descriptor set for gRPC")
	noClassify := fs.Bool("no-classify", false, "turn classification (and masking by type) off")
	pairs := fs.Int("pairs", 0, "exchanges in the capture")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile")
	memprofile := fs.String("memprofile", "", "write an allocation profile")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// The replay runs the pipeline as the sidecar does, GC target included.
	sidecar.TuneRuntime()
	cfg := config.DefaultSidecar()
	if *noClassify {
		cfg.Classify.Enabled = false
		cfg.Redact.Types = nil
	}
	if *protoset != "" {
		cfg.GRPC.Reflection = "off"
		cfg.GRPC.DescriptorSets = []string{*protoset}
	}
	marker := seqMarker
	if *protoset != "" {
		marker = callMarker
	}
	check := newChecker(marker, *pairs)
	snk := sink.NewLines(check, check)
	if *out != "" {
		var err error
		if snk, err = sink.File(*out); err != nil {
			return err
		}
	}
	p, err := sidecar.New(cfg, snk, sidecar.Where{})
	if err != nil {
		return err
	}
	src, err := capture.OpenFile(*path)
	if err != nil {
		return err
	}
	defer src.Close()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}

	runtime.GC()
	var m0, m1 runtime.MemStats
	var ru0, ru1 syscall.Rusage
	runtime.ReadMemStats(&m0)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	runErr := p.Run(context.Background(), src)
	p.Close()
	closeErr := snk.Close(context.Background())
	wall := time.Since(start)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	runtime.ReadMemStats(&m1)
	pprof.StopCPUProfile()
	if *memprofile != "" {
		if err := writeHeapProfile(*memprofile); err != nil {
			return err
		}
	}
	if runErr != nil {
		return runErr
	}
	if closeErr != nil {
		return closeErr
	}

	stats, _ := src.Stats()
	r := replayResult{
		WallSeconds: wall.Seconds(),
		UserSeconds: tvSeconds(ru1.Utime) - tvSeconds(ru0.Utime),
		SysSeconds:  tvSeconds(ru1.Stime) - tvSeconds(ru0.Stime),
		Mallocs:     m1.Mallocs - m0.Mallocs,
		Packets:     stats.Packets,
		MaxRSSBytes: peakRSS(),
		Drops:       drops(),
	}
	r.completeness = check.completeness
	if *out != "" {
		f, err := os.Open(*out)
		if err != nil {
			return fmt.Errorf("reading records: %w", err)
		}
		defer f.Close()
		if r.completeness, err = checkRecords(f, marker, *pairs); err != nil {
			return fmt.Errorf("reading records: %w", err)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

// peakRSS is this process's peak resident set. getrusage's ru_maxrss is
// not used: Linux keeps it across execve, so a child would report the
// bench's own peak from before it started.
func peakRSS() int64 {
	_, peak, _ := host.ProcessRSS(os.Getpid())
	return peak
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// drops reads podtap_pairs_dropped_total by reason.
func drops() map[string]float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		metrics.PairsDropped.Collect(ch)
		close(ch)
	}()
	out := map[string]float64{}
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			continue
		}
		if v := pb.GetCounter().GetValue(); v > 0 {
			out[pb.GetLabel()[0].GetValue()] = v
		}
	}
	return out
}
