package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"

	"github.com/podtap/podtap/internal/bench/host"
)

// Wrk is Debian's wrk, the overhead scenario's load generator: written in
// C with an event loop, it needs a fraction of the CPU per request that
// the server does, so the server is what the runs measure. (The live
// scenarios use the bench's own generator, which can hold a rate; wrk
// cannot.)
type Wrk struct {
	path, taskset string
}

func NewWrk() (*Wrk, error) {
	path, err := exec.LookPath("wrk")
	if err != nil {
		return nil, errors.New("the overhead scenario needs wrk (Debian: apt-get install wrk; hack/deps.sh installs it)")
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return nil, errors.New("the overhead scenario needs taskset (Debian: util-linux)")
	}
	return &Wrk{path: path, taskset: taskset}, nil
}

// WrkResult is one wrk run.
type WrkResult struct {
	Requests int64
	Elapsed  time.Duration
	// Errors counts socket errors and non-2xx/3xx responses.
	Errors int64
}

func (r WrkResult) Rate() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

var (
	wrkTotal   = regexp.MustCompile(`(\d+) requests in ([0-9.]+)(us|ms|s|m)\b`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSockErr = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// Run drives url with conns keep-alive connections for d, wrk pinned to
// cpus, and returns what wrk counted. A run with failed requests is an
// error: the figures would not be the server's.
func (w *Wrk) Run(ctx context.Context, url string, cpus []int, conns int, d time.Duration) (WrkResult, error) {
	args := []string{"-c", host.CPUList(cpus), w.path, "-t1", "-c" + strconv.Itoa(conns),
		"-d" + strconv.Itoa(max(1, int(d.Seconds()))) + "s", "--timeout", "10s", url}
	cmd := exec.CommandContext(ctx, w.taskset, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return WrkResult{}, fmt.Errorf("wrk: %w: %s", err, out.Bytes())
	}
	return parseWrk(out.Bytes())
}

// parseWrk reads wrk's summary: "N requests in 5.00s, M MB read", and its
// error lines when there were errors.
func parseWrk(out []byte) (WrkResult, error) {
	var r WrkResult
	m := wrkTotal.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk: no summary in its output: %s", out)
	}
	var err error
	if r.Requests, err = strconv.ParseInt(string(m[1]), 10, 64); err != nil {
		return r, fmt.Errorf("wrk: request count %q: %w", m[1], err)
	}
	v, err := strconv.ParseFloat(string(m[2]), 64)
	if err != nil {
		return r, fmt.Errorf("wrk: duration %q: %w", m[2], err)
	}
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute}[string(m[3])]
	r.Elapsed = time.Duration(v * float64(unit))
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		r.Errors += n
	}
	if m := wrkSockErr.FindSubmatch(out); m != nil {
		for _, g := range m[1:] {
			n, _ := strconv.ParseInt(string(g), 10, 64)
			r.Errors += n
		}
	}
	if r.Requests == 0 || r.Elapsed <= 0 {
		return r, fmt.Errorf("wrk: no requests completed: %s", out)
	}
	if r.Errors > 0 {
		return r, fmt.Errorf("wrk: %d failed requests: %s", r.Errors, out)
	}
	return r, nil
}
