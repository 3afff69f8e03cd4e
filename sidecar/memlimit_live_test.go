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
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/podtap/podtap/internal/testenv"
)

const (
	// memLimit is the chart's default sidecar memory limit, and
	// memGoLimit the GOMEMLIMIT the webhook injects for it (nine tenths,
	// webhook/mutate_container.go).
	memLimit   = 256 << 20
	memGoLimit = memLimit / 10 * 9
	// stalledConns hold half a request each, twice what fits 256 MiB.
	stalledConns = 50000
	goodRequests = 200
)

// stalledPorts are the pod ports the stalled connections go to: each
// destination has its own ephemeral port range, and 50,000 do not fit one.
var stalledPorts = []int{9000, 9001, 9002}

// TestLiveStalledConnectionsUnderMemoryLimit runs the real sidecar binary,
// capturing a pod's eth0, in a cgroup limited to 256 MiB with GOMEMLIMIT
// as the webhook sets it. 50,000 connections each send the headers and
// the first bytes of a JSON body, then stay silent; then good traffic
// follows on new connections. The sidecar must not be OOM-killed, the good
// traffic must come out paired on stdout, and the connections shed at the
// cap must be counted.
func TestLiveStalledConnectionsUnderMemoryLimit(t *testing.T) {
	if testing.Short() && !testenv.OnCI() {
		t.Skip("SKIPPED, NOT RUN: -short: 50,000 connections against a memory-limited sidecar (a minute)")
	}
	testenv.RequireNetns(t)
	cg := newMemoryCgroup(t, memLimit)
	pod := testenv.NewPod(t, "ptmem-", 217, 1)
	ip := pod.IP()

	var good net.Listener
	if err := pod.Do(func() (err error) {
		good, err = net.Listen("tcp", net.JoinHostPort(ip, "8080"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: jsonService(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(good) }()
	t.Cleanup(func() { srv.Close() })
	for _, p := range stalledPorts {
		startStallHelper(t, pod.Name, "hold", net.JoinHostPort(ip, strconv.Itoa(p)), 0)
	}

	sc := startLimitedSidecar(t, cg, pod.Name, ip)

	start := time.Now()
	var wg sync.WaitGroup
	for i, p := range stalledPorts {
		n := stalledConns / len(stalledPorts)
		if i == 0 {
			n += stalledConns % len(stalledPorts)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			startStallHelper(t, "", "dial", net.JoinHostPort(ip, strconv.Itoa(p)), n)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d stalled connections open in %v", stalledConns, time.Since(start).Round(time.Millisecond))
	if !sc.alive() {
		t.Fatalf("the sidecar died while the stalled connections opened: %s; cgroup: %s", sc.exit(), cg.report())
	}

	// A flush interval later every stalled connection has been silent long
	// enough to give way to new ones.
	time.Sleep(1500 * time.Millisecond)
	sendGood(t, "http://"+net.JoinHostPort(ip, "8080"), goodRequests)
	deadline := time.Now().Add(30 * time.Second)
	for sc.goodPairs.Load() < goodRequests && time.Now().Before(deadline) && sc.alive() {
		time.Sleep(100 * time.Millisecond)
	}
	shed, err := scrapeSum(sc.metrics, "podtap_connections_shed_total")
	if err != nil {
		t.Errorf("scraping the sidecar: %v", err)
	}
	tracked, err := scrapeSum(sc.metrics, "podtap_connections")
	if err != nil {
		t.Errorf("scraping the sidecar: %v", err)
	}
	kdrops, _ := scrapeSum(sc.metrics, "podtap_kernel_drops_total")
	hwm := sc.peakRSS()
	if !sc.alive() {
		t.Fatalf("the sidecar died: %s; cgroup: %s", sc.exit(), cg.report())
	}
	if err := sc.stop(); err != nil {
		t.Errorf("stopping the sidecar: %v; log: %s", err, sc.logTail())
	}
	t.Logf("sidecar peak RSS %d MiB, cgroup %s; %v connections tracked, %v shed, %v packets dropped by the kernel; %d good pairs of %d",
		hwm>>20, cg.report(), tracked, shed, kdrops, sc.goodPairs.Load(), goodRequests)

	if kills := cg.oomKills(); kills != 0 {
		t.Errorf("%d OOM kills in the sidecar's cgroup", kills)
	}
	if got := sc.goodPairs.Load(); got != goodRequests {
		t.Errorf("%d good pairs on stdout, want %d; log: %s", got, goodRequests, sc.logTail())
	}
	// At most what fits 230 MiB is tracked; the rest of the 50,000 that
	// the capture saw (a CPU-starved capture loses some to the kernel's
	// ring, counted as kernel drops) is shed.
	limit := logCap(sc.log())
	if limit == 0 || limit >= stalledConns {
		t.Fatalf("the sidecar logged connection cap %d for GOMEMLIMIT %d, want one under %d; log: %s", limit, memGoLimit, stalledConns, sc.logTail())
	}
	if tracked > float64(limit) {
		t.Errorf("%v connections tracked, over the cap of %d", tracked, limit)
	}
	if shed < 1000 {
		t.Errorf("%v connections counted as shed, want thousands of the %d past the cap of %d", shed, stalledConns, limit)
	}
	if log := sc.log(); !strings.Contains(log, `"level":"WARN","msg":"shedding connections`) {
		t.Errorf("no WARN that connections are shed; log: %s", sc.logTail())
	}
}

// logCap is the connection cap the sidecar logged it derived from
// GOMEMLIMIT, 0 if none.
func logCap(log string) int {
	for _, line := range strings.Split(log, "\n") {
		var l struct {
			Msg string `json:"msg"`
			Cap int    `json:"cap"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && strings.HasPrefix(l.Msg, "connection cap lowered") {
			return l.Cap
		}
	}
	return 0
}

// stallRoleEnv makes the test binary a helper process of
// TestLiveStalledConnectionsUnderMemoryLimit (see TestMain): 50,000
// connections, each end an open file, do not fit one process's file
// limit, which root cannot raise without CAP_SYS_RESOURCE.
const (
	stallRoleEnv  = "PODTAP_TEST_STALL_ROLE" // hold or dial
	stallAddrEnv  = "PODTAP_TEST_STALL_ADDR"
	stallCountEnv = "PODTAP_TEST_STALL_COUNT"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(stallRoleEnv); role != "" {
		if err := stallHelper(role, os.Getenv(stallAddrEnv), os.Getenv(stallCountEnv)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// stallHelper holds or dials connections until its standard input closes.
// "hold" listens on addr and keeps every connection it accepts open
// without reading, as a server stuck on other work does (the kernel still
// acknowledges what clients send). "dial" opens count connections to addr,
// each sending a header block and the start of its JSON body. Each says
// "ready" on stdout when done.
func stallHelper(role, addr, count string) error {
	var conns []net.Conn
	switch role {
	case "hold":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				conns = append(conns, c)
			}
		}()
	case "dial":
		n, err := strconv.Atoi(count)
		if err != nil {
			return fmt.Errorf("%s: %w", stallCountEnv, err)
		}
		if conns, err = dialStalled(addr, n); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s: unknown role %q", stallRoleEnv, role)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

func dialStalled(addr string, n int) ([]net.Conn, error) {
	const dialers = 32
	conns := make([]net.Conn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, dialers)
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 10 * time.Second}
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := d.Dial("tcp", addr)
				if err != nil {
					errs <- fmt.Errorf("connection %d to %s: %w", i, addr, err)
					return
				}
				body := fmt.Sprintf(`{"order":%d,"items":[{"sku":"A-%d","qty":2},`, i, i)
				req := fmt.Sprintf("POST /orders HTTP/1.1\r\nHost: orders\r\nUser-Agent: stall/1\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n%s", body)
				if _, err := io.WriteString(c, req); err != nil {
					c.Close()
					errs <- fmt.Errorf("connection %d: writing: %w", i, err)
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	close(errs)
	return conns, <-errs
}

// startStallHelper starts a helper process (see stallHelper), in network
// namespace ns unless it is empty, and waits until it is ready. It ends
// when the test does.
func startStallHelper(t *testing.T, ns, role, addr string, count int) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	if ns != "" {
		cmd = exec.Command("ip", "netns", "exec", ns, self)
	}
	cmd.Env = append(os.Environ(), stallRoleEnv+"="+role, stallAddrEnv+"="+addr, stallCountEnv+"="+strconv.Itoa(count))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the %s helper: %v", role, err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		_ = cmd.Wait()
		t.Fatalf("the %s helper for %s failed: %s", role, addr, stderr.String())
	}
}

// sendGood sends total JSON requests over 4 new keep-alive connections.
func sendGood(t *testing.T, base string, total int) {
	t.Helper()
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 4, MaxConnsPerHost: 4},
	}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += 4 {
				resp, err := client.Get(fmt.Sprintf("%s/items/%d", base, 10+i))
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d good requests failed", n)
	}
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

// memoryCgroup is a cgroup v1 memory cgroup, as the kubelet makes for a
// container with a memory limit.
type memoryCgroup struct{ dir string }

func newMemoryCgroup(t *testing.T, limit int64) *memoryCgroup {
	t.Helper()
	root := "/sys/fs/cgroup/memory"
	if _, err := os.Stat(filepath.Join(root, "memory.limit_in_bytes")); err != nil {
		if testenv.OnCI() {
			t.Fatalf("the cgroup v1 memory controller is required on CI: %v", err)
		}
		t.Skipf("SKIPPED, NOT RUN: no cgroup v1 memory controller at %s: %v (CI=true turns this into a failure)", root, err)
	}
	cg := &memoryCgroup{dir: filepath.Join(root, fmt.Sprintf("podtap-memtest-%d", os.Getpid()))}
	if err := os.Mkdir(cg.dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The sidecar has exited by now; its cgroup empties a moment later.
		for range 50 {
			if err := os.Remove(cg.dir); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("removing cgroup %s: still busy", cg.dir)
	})
	cg.write(t, "memory.limit_in_bytes", strconv.FormatInt(limit, 10))
	if _, err := os.Stat(filepath.Join(cg.dir, "memory.memsw.limit_in_bytes")); err == nil {
		cg.write(t, "memory.memsw.limit_in_bytes", strconv.FormatInt(limit, 10))
	}
	return cg
}

func (cg *memoryCgroup) write(t *testing.T, file, value string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(cg.dir, file), []byte(value), 0); err != nil {
		t.Fatalf("cgroup %s: writing %s: %v", cg.dir, file, err)
	}
}

func (cg *memoryCgroup) read(file string) string {
	b, _ := os.ReadFile(filepath.Join(cg.dir, file))
	return strings.TrimSpace(string(b))
}

// oomKills is the kernel's count of processes OOM-killed in the cgroup.
func (cg *memoryCgroup) oomKills() int {
	for _, line := range strings.Split(cg.read("memory.oom_control"), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

func (cg *memoryCgroup) report() string {
	peak, _ := strconv.ParseInt(cg.read("memory.max_usage_in_bytes"), 10, 64)
	return fmt.Sprintf("peak %d MiB of %s, failcnt %s, oom_kill %d",
		peak>>20, cg.read("memory.limit_in_bytes"), cg.read("memory.failcnt"), cg.oomKills())
}

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
	bin := buildSidecarBinary(t)
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

// buildSidecarBinary builds podtap-sidecar from this module.
func buildSidecarBinary(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("finding the module (go env GOMOD): %v", err)
	}
	bin := filepath.Join(t.TempDir(), "podtap-sidecar")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/podtap-sidecar")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building podtap-sidecar: %v: %s", err, out)
	}
	return bin
}
