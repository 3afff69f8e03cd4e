package sidecar_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/podtap/podtap/internal/bench/scenario"
)

// limitedSidecar is the real podtap-sidecar in the pod's namespace and the
// memory cgroup, writing pairs to stdout.
type limitedSidecar struct {
	cmd       *exec.Cmd
	metrics   string
	logFile   string
	done      chan struct{}
	waitErr   error
	goodPairs atomic.Int64
	readDone  chan struct{}
}

func startLimitedSidecar(t *testing.T, cg *memoryCgroup, ns, ip string) *limitedSidecar {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	bin, err := scenario.BuildSidecar(ctx, t.TempDir())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	ports := []string{"8080"}
	for _, p := range stalledPorts {
		ports = append(ports, strconv.Itoa(p))
	}
	metricsAddr := net.JoinHostPort(ip, "19090")
	s := &limitedSidecar{
		metrics:  "http://" + metricsAddr,
		logFile:  filepath.Join(t.TempDir(), "sidecar.log"),
		done:     make(chan struct{}),
		readDone: make(chan struct{}),
	}
	// The shell joins the cgroup before it execs the sidecar, so that none
	// of it runs unconfined.
	s.cmd = exec.Command("sh", "-c", `echo $$ > "$0" && exec "$@"`, filepath.Join(cg.dir, "cgroup.procs"),
		"ip", "netns", "exec", ns, bin, "run", "--interface", "eth0", "--ports", strings.Join(ports, ","),
		"--sink", "stdout", "--metrics-addr", metricsAddr, "--log-level", "info")
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GOMEMLIMIT=" + strconv.Itoa(memGoLimit)}
	logf, err := os.Create(s.logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	s.cmd.Stderr = logf
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting the sidecar: %v", err)
	}
	go s.readPairs(out)
	go func() {
		<-s.readDone
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		if s.alive() {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.metrics + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if !s.alive() || time.Now().After(deadline) {
			t.Fatalf("the sidecar did not become ready: %s", s.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readPairs counts the records of the good traffic on the sidecar's stdout.
func (s *limitedSidecar) readPairs(out io.Reader) {
	defer close(s.readDone)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 0, 1<<20), 4<<20)
	for sc.Scan() {
		var rec struct {
			Request struct {
				Path string `json:"path"`
			} `json:"request"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && strings.HasPrefix(rec.Request.Path, "/items/") {
			s.goodPairs.Add(1)
		}
	}
}

func (s *limitedSidecar) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

func (s *limitedSidecar) exit() string {
	if s.alive() {
		return "running"
	}
	return fmt.Sprintf("%v; log: %s", s.waitErr, s.logTail())
}

// stop ends the sidecar as the kubelet does, with SIGTERM, and waits.
func (s *limitedSidecar) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-s.done:
		return s.waitErr
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("did not exit within 20s of SIGTERM")
	}
}

// peakRSS is the sidecar's VmHWM.
func (s *limitedSidecar) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func (s *limitedSidecar) log() string {
	b, _ := os.ReadFile(s.logFile)
	return string(b)
}

func (s *limitedSidecar) logTail() string {
	l := s.log()
	return l[max(0, len(l)-2000):]
}

// scrapeSum adds up every sample of metric name at base/metrics.
func scrapeSum(base, name string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("%q: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}
