package scenario

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"github.com/podtap/podtap/internal/bench/report"
	"github.com/podtap/podtap/internal/bench/synth"
)

// GoReplay never exits after reading a file, so its run is timed to the log
// line that says it reached the end, and its output is counted once the
// file stops growing.
var gorEOF = regexp.MustCompile(`(?i)\bEOF\b`)

// gorSettle is how long GoReplay's output must stay the same size after
// EOF before it is taken as complete.
const gorSettle = 3 * time.Second

// goReplayRow replays c through GoReplay with the options of the anchor
// (pcap-file engine, responses tracked, Go timestamps, output to a file)
// and compares it with podtap: pairs/s by wall with podtap at GOMAXPROCS=2,
// pairs per CPU-second with podtap at its most frugal (GOMAXPROCS=1).
func goReplayRow(ctx context.Context, gor string, c synth.Capture, tmp string, one, two *report.Row) (*report.Row, error) {
	out := filepath.Join(tmp, "gor-"+c.Spec.Name+".gor")
	defer os.Remove(out)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gor,
		"--input-raw", c.Path, "--input-raw-engine", "pcap_file", "--input-raw-track-response",
		"--input-raw-timestamp-type", "go", "--output-file", out, "--output-file-append")
	logs, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = cmd.Stderr
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru0)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting GoReplay: %w", err)
	}
	eof := make(chan time.Duration, 1)
	go func() {
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			if gorEOF.Match(sc.Bytes()) {
				eof <- time.Since(start)
				break
			}
		}
		_, _ = io.Copy(io.Discard, logs)
	}()
	var wall time.Duration
	select {
	case wall = <-eof:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("GoReplay logged no EOF line: %w", ctx.Err())
	}
	settle(out)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru1)
	cpu := tvSeconds(ru1.Utime) + tvSeconds(ru1.Stime) - tvSeconds(ru0.Utime) - tvSeconds(ru0.Stime)
	got, err := countGoReplay(out, c.Spec.Pairs())
	if err != nil {
		return nil, err
	}
	n := c.Spec.Pairs()
	pps := float64(got.Unique) / wall.Seconds()
	r := report.NewRow("GoReplay "+c.Spec.Name).
		Set("pairs_per_s", pps).
		Set("mb_per_s", float64(c.Stats.Bytes)/wall.Seconds()/1e6).
		Set("wall_s", wall.Seconds()).
		Set("cpu_s", cpu).
		Set("pairs_per_cpu_s", float64(got.Unique)/cpu).
		Set("pairs_emitted", float64(got.Unique)).
		Set("pairs_expected", float64(n)).
		Set("coverage_pct", 100*float64(got.Unique)/float64(n))
	if pps > 0 {
		r.Set("vs_goreplay", two.Figures["pairs_per_s"]/pps)
	}
	if got.Unique > 0 {
		r.Set("vs_goreplay_cpu", one.Figures["pairs_per_cpu_s"]/r.Figures["pairs_per_cpu_s"])
	}
	r.Note = "time to its EOF line; × pairs/s is podtap at GOMAXPROCS=2 over GoReplay by wall, × pairs/CPU-s podtap at GOMAXPROCS=1 over GoReplay"
	return r, nil
}

// settle waits until path has not grown for gorSettle.
func settle(path string) {
	var last int64 = -1
	for {
		time.Sleep(gorSettle)
		st, err := os.Stat(path)
		if err != nil || st.Size() == last {
			return
		}
		last = st.Size()
	}
}

// gorSeparator ends every payload in GoReplay's output file.
var gorSeparator = []byte("\n\U0001F435\U0001F648\U0001F649\n")

// countGoReplay counts the responses in GoReplay's output that carry an
// exchange number, each number once: a pair is emitted when its response
// is, since GoReplay writes the request first.
func countGoReplay(path string, n int) (completeness, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return completeness{}, fmt.Errorf("reading GoReplay's output: %w", err)
	}
	var lines bytes.Buffer
	for _, payload := range bytes.Split(b, gorSeparator) {
		// The first line is the meta line: type 2 is a response.
		if !bytes.HasPrefix(payload, []byte("2 ")) {
			continue
		}
		i := bytes.Index(bytes.ToLower(payload), []byte("\nx-request-seq: "))
		if i < 0 {
			continue
		}
		num := payload[i+len("\nx-request-seq: "):]
		if j := bytes.IndexAny(num, "\r\n"); j >= 0 {
			num = num[:j]
		}
		fmt.Fprintf(&lines, `{"x-request-seq":["%s"]}`+"\n", num)
	}
	return checkRecords(&lines, seqMarker, n)
}
