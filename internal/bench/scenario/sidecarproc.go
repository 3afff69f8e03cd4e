package scenario

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/bench/host"
)

// sidecarProc is the real podtap-sidecar binary capturing the pod's eth0
// inside the live namespace, optionally confined to a CPU limit, writing
// its pairs to stdout, its default sink: a pipe that the bench drains as a
// container runtime does, outside the sidecar's CPU limit. (A file on
// tmpfs was a fifth of the sidecar's CPU here, the VM's page allocation,
// not podtap.)
type sidecarProc struct {
	cmd *exec.Cmd
	// proc is the sidecar's process: cmd's, or its child when cmd enters
	// the pod's PID namespace first.
	proc    int
	metrics string
	stderr  *os.File
}

// sidecarMetricsPort is the live sidecar's metrics port on the pod's
// address; receiverMetricsPort the receiver's, which runs beside it.
const (
	sidecarMetricsPort  = 19090
	receiverMetricsPort = 19091
)

// sidecarMemoryLimit is the sidecar's default memory limit, and
// sidecarGoMemLimit the GOMEMLIMIT the webhook sets for it.
const sidecarMemoryLimit = int64(256 << 20)

var sidecarGoMemLimit = config.GoMemLimit(sidecarMemoryLimit)

// startSidecar starts the sidecar and waits until it captures. With limit
// set, the process joins the cgroup before it execs the sidecar, so that
// not one instruction of it runs unconfined.
func startSidecar(ctx context.Context, env *liveEnv, limit *host.CPULimit) (*sidecarProc, error) {
	return startSidecarWith(ctx, env, limit, sidecarMetricsPort)
}

// startSidecarWith is startSidecar with its metrics on metricsPort and
// settings of extraEnv (KEY=VALUE) after the bench's --sidecar-env: the
// tunnel mode and the VXLAN source are settings.
func startSidecarWith(ctx context.Context, env *liveEnv, limit *host.CPULimit, metricsPort int, extraEnv ...string) (*sidecarProc, error) {
	metricsAddr := env.podIP + ":" + strconv.Itoa(metricsPort)
	args := []string{"netns", "exec", env.pod.Name, env.sidecarBin, "run",
		"--interface", "eth0", "--ports", strconv.Itoa(appPort),
		"--sink", "stdout", "--metrics-addr", metricsAddr, "--log-level", "warn"}
	script := `exec ip "$@"`
	if limit != nil {
		script = `echo $$ > "$0" && exec ip "$@"`
	}
	shArgs := append([]string{"-c", script, "sidecar"}, args...)
	if limit != nil {
		shArgs[2] = limit.ProcsFile()
	}
	stderr, err := os.CreateTemp(env.tmp, "sidecar-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("sh", shArgs...)
	cmd.Env = sidecarEnv(env, limit, extraEnv)
	// Not an *os.File: exec makes a pipe and drains it in the bench.
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	if err := cmd.Start(); err != nil {
		stderr.Close()
		return nil, fmt.Errorf("starting the sidecar: %w", err)
	}
	s := &sidecarProc{cmd: cmd, proc: cmd.Process.Pid, metrics: "http://" + metricsAddr, stderr: stderr}
	if err := s.waitReady(ctx); err != nil {
		return nil, errors.Join(err, s.stop())
	}
	return s, nil
}

// sidecarEnv is the sidecar's environment. It refuses PODTAP_ variables
// that are not its settings, and the bench's own (PODTAP_CACHE) would be
// one: it starts with nothing of the bench's environment but PATH, and the
// Go runtime's variables as the webhook sets them for the default 256Mi
// memory limit and limit's CPUs (nil: none), then the bench's
// --sidecar-env and extra.
func sidecarEnv(env *liveEnv, limit *host.CPULimit, extra []string) []string {
	res := config.Resources{MemoryLimit: resource.NewQuantity(sidecarMemoryLimit, resource.BinarySI)}
	if limit != nil {
		res.CPULimit = resource.NewMilliQuantity(int64(limit.Cores*1000), resource.DecimalSI)
	}
	e := []string{"PATH=" + os.Getenv("PATH")}
	for _, v := range config.GoRuntimeEnv(res) {
		e = append(e, v.Name+"="+v.Value)
	}
	e = append(e, env.sidecarEnv...)
	return append(e, extra...)
}

func (s *sidecarProc) pid() int { return s.proc }

// waitReady polls /readyz, which answers 200 once the capture runs.
func (s *sidecarProc) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return err
		}
		resp, err := http.Get(s.metrics + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the sidecar did not become ready: %s", s.logTail())
}

// sidecarMetrics are the figures read from the sidecar's /metrics.
type sidecarMetrics struct {
	Pairs, KernelDrops float64
	// Bytes is what the sidecar read off the ring; QueueDrops the packets
	// it dropped at its full queue (flow.queue_bytes).
	Bytes, QueueDrops float64
	// TunnelDrops are the packets a tunnel-mode sidecar did not send;
	// TunnelDatagrams those it sent.
	TunnelDrops, TunnelDatagrams float64
	// Conns are the connections tracked now; Shed those shed at the cap.
	Conns, Shed float64
	// TLSEvents are the TLS plaintext events read off the ring buffer,
	// TLSLost those lost (any reason; TLSRingFull at the full ring),
	// TLSProbed the files with uprobes.
	TLSEvents, TLSLost, TLSRingFull, TLSProbed float64
	// PairDrops are the pairs dropped, by reason
	// (podtap_pairs_dropped_total).
	PairDrops map[string]float64
}

func (s *sidecarProc) scrape() (sidecarMetrics, error) {
	m := sidecarMetrics{PairDrops: map[string]float64{}}
	resp, err := http.Get(s.metrics + "/metrics")
	if err != nil {
		return m, fmt.Errorf("scraping the sidecar: %w; its log: %s", err, s.logTail())
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		name, value, ok := metricLine(line)
		if !ok {
			continue
		}
		switch name {
		case "podtap_pairs_total":
			m.Pairs += value
		case "podtap_pairs_dropped_total":
			m.PairDrops[labelValue(line, "reason")] += value
		case "podtap_kernel_drops_total":
			m.KernelDrops += value
		case "podtap_tunnel_datagrams_total":
			m.TunnelDatagrams += value
		case "podtap_tunnel_drops_total":
			m.TunnelDrops += value
		case "podtap_connections":
			m.Conns += value
		case "podtap_connections_shed_total":
			m.Shed += value
		case "podtap_tls_events_total":
			m.TLSEvents += value
		case "podtap_tls_events_lost_total":
			m.TLSLost += value
			if strings.Contains(line, `reason="ring_full"`) {
				m.TLSRingFull += value
			}
		case "podtap_tls_probed_objects":
			m.TLSProbed += value
		case "podtap_bytes_total":
			m.Bytes += value
		case "podtap_packets_ignored_total":
			if strings.Contains(line, `reason="queue_full"`) {
				m.QueueDrops += value
			}
		}
	}
	return m, sc.Err()
}

// labelValue is the value of label in a Prometheus text-format sample, or
// "" when it has none.
func labelValue(line, label string) string {
	_, rest, ok := strings.Cut(line, label+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// droppedNote lists for a row's note the pairs dropped between m0 and m1,
// by reason: "" when none were.
func droppedNote(m1, m0 sidecarMetrics) string {
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(m1.PairDrops)) {
		if n := m1.PairDrops[r] - m0.PairDrops[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("%.0f %s", n, r))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; pairs dropped: " + strings.Join(parts, ", ")
}

// metricLine splits a Prometheus text-format sample into its metric name
// (labels dropped) and value.
func metricLine(line string) (string, float64, bool) {
	if line == "" || line[0] == '#' {
		return "", 0, false
	}
	sp := strings.LastIndexByte(line, ' ')
	if sp < 0 {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(line[sp+1:], 64)
	if err != nil {
		return "", 0, false
	}
	name := line[:sp]
	if i := strings.IndexByte(name, '{'); i >= 0 {
		name = name[:i]
	}
	return name, v, true
}

// drained waits until the sidecar has emitted want pairs in all, what
// was sent so far, and returns its figures then. When it emits fewer (it
// missed some), it waits until the count has stood still for a while.
func (s *sidecarProc) drained(ctx context.Context, want float64) (sidecarMetrics, error) {
	const still = 3 * time.Second
	last, err := s.scrape()
	if err != nil {
		return last, err
	}
	stable := time.Now()
	for deadline := time.Now().Add(30 * time.Second); last.Pairs < want && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(100 * time.Millisecond)
		m, err := s.scrape()
		if err != nil {
			return m, err
		}
		if !reflect.DeepEqual(m, last) {
			last, stable = m, time.Now()
			continue
		}
		if time.Since(stable) >= still {
			break
		}
	}
	return last, nil
}

// stop ends the sidecar as Kubernetes does: SIGTERM, then SIGKILL.
func (s *sidecarProc) stop() error {
	defer s.stderr.Close()
	if err := host.StopPID(s.cmd, s.proc, syscall.SIGTERM, 10*time.Second); err != nil {
		return fmt.Errorf("stopping the sidecar: %w: %s", err, s.logTail())
	}
	return nil
}

func (s *sidecarProc) logTail() string {
	b, _ := os.ReadFile(s.stderr.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// BuildSidecar builds podtap-sidecar from this module into dir.
func BuildSidecar(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "podtap-sidecar")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/podtap-sidecar")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building podtap-sidecar (or pass --sidecar): %w: %s", err, out)
	}
	return bin, nil
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module (go env GOMOD): %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the podtap module: run the bench from the repository, or pass --sidecar")
	}
	return filepath.Dir(mod), nil
}
