package sidecar_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/netns"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/tlscapture"
)

// TestTLSGoCryptoTLS serves the same JSON API from a Go program over
// crypto/tls and over plaintext, three times: built as it is and started
// before the sidecar; built with -ldflags='-s -w' (no symbol table, found
// by the pclntab) and as a PIE (loaded at a random address), both started
// after it. Go clients, which TLS capture does not see, send the same
// requests over TLS with HTTP/1.1 and with h2, and over plaintext HTTP/1.1
// that packet capture reads; then the stripped program is the client, of
// a server TLS capture does not see. Each TLS run must give the pairs of
// the plaintext run, marked tls.library go, with no TLS connection counted
// as not read. TLS over a Unix socket (a tls.Conn whose conn is not TCP)
// must give no pair and count as unmapped.
func TestTLSGoCryptoTLS(t *testing.T) {
	for _, tool := range []string{"go", "openssl", "unshare", "ip"} {
		testenv.RequireTool(t, tool)
	}
	dir := t.TempDir()
	bin := map[string]string{"normal": filepath.Join(dir, "gotls"), "stripped": filepath.Join(dir, "gotls-stripped"), "pie": filepath.Join(dir, "gotls-pie")}
	buildGoTLS(t, bin["normal"])
	buildGoTLS(t, bin["stripped"], "-ldflags=-s -w")
	buildGoTLS(t, bin["pie"], "-buildmode=pie")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=orders.internal", "-days", "1").CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	pod := testenv.NewPod(t, "pttlg-", 223, 1)
	ip := pod.IP()
	type server struct {
		bin              string
		tlsPort, plainPt int
		unix             string
		pid              int
	}
	servers := map[string]*server{
		"normal":   {bin: bin["normal"], tlsPort: 9443, plainPt: 8080, unix: filepath.Join(dir, "tls.sock")},
		"stripped": {bin: bin["stripped"], tlsPort: 9444, plainPt: 8081},
		"pie":      {bin: bin["pie"], tlsPort: 9445, plainPt: 8082},
	}
	start := func(s *server) {
		args := []string{"serve", "-tls", net.JoinHostPort(ip, strconv.Itoa(s.tlsPort)), "-plain", net.JoinHostPort(ip, strconv.Itoa(s.plainPt)), "-cert", cert, "-key", key}
		if s.unix != "" {
			args = append(args, "-unix", s.unix)
		}
		s.pid = startInPod(t, pod, s.bin, args...)
		waitListening(t, net.JoinHostPort(ip, strconv.Itoa(s.tlsPort)))
		waitListening(t, net.JoinHostPort(ip, strconv.Itoa(s.plainPt)))
	}
	start(servers["normal"])

	gc := startGoCapture(t, pod, 8080, 8081, 8082, 8083, 9443, 9444, 9445, 9446)
	// Started after the sidecar: found by a rescan.
	start(servers["stripped"])
	start(servers["pie"])
	for name, s := range servers {
		gc.waitProbed(t, name, s.pid)
	}
	unmapped := func() float64 {
		return testutil.ToFloat64(metrics.TLSEventsLost.WithLabelValues(metrics.TLSLostUnmapped))
	}
	notRead := func() float64 { return counterSum(t, "podtap_tls_connections_total") }
	unmappedBefore, notReadBefore := unmapped(), notRead()

	for _, s := range servers {
		tlsBase := "https://" + net.JoinHostPort(ip, strconv.Itoa(s.tlsPort))
		callApart(t, s.bin, "-base", tlsBase, "-proto", "http/1.1")
		callApart(t, s.bin, "-base", tlsBase, "-proto", "h2")
		callApart(t, s.bin, "-base", "http://"+net.JoinHostPort(ip, strconv.Itoa(s.plainPt)), "-proto", "http/1.1")
	}
	callApart(t, bin["normal"], "-base", "https://orders.internal", "-unix", servers["normal"].unix, "-n", "1")

	// The application as a client: the stripped program calls a server
	// that TLS capture does not see (in a PID namespace of its own). Its
	// file is probed already, and uprobes belong to the file: the new
	// process is read from its first call, however short it lives.
	outbound := &server{bin: bin["normal"], tlsPort: 9446, plainPt: 8083}
	startApart(t, pod, outbound.bin, "serve", "-tls", net.JoinHostPort(ip, "9446"), "-plain", net.JoinHostPort(ip, "8083"), "-cert", cert, "-key", key)
	waitListening(t, net.JoinHostPort(ip, "9446"))
	for _, proto := range []string{"http/1.1", "h2"} {
		callProbed(t, bin["stripped"], "-base", "https://"+net.JoinHostPort(ip, "9446"), "-proto", proto)
	}
	callApart(t, bin["normal"], "-base", "http://"+net.JoinHostPort(ip, "8083"), "-proto", "http/1.1")
	servers["stripped, as the client"] = outbound
	// Connections end at flow.idle_timeout (1s) in both sources; the
	// held plaintext of the Unix socket's is counted as unmapped then.
	deadline := time.Now().Add(5 * time.Second)
	for unmapped() == unmappedBefore && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	records := gc.finish(t)

	// Other Go programs on this machine are probed too; only the pod's
	// servers count.
	got := map[int]map[string][]string{}
	for _, r := range records {
		var rec struct {
			Protocol string
			Server   struct {
				IP   string
				Port int
			}
			TLS     *struct{ Library string }
			Request struct {
				Method, Path, Query string
				Body                json.RawMessage
			}
			Response struct {
				Status int
				Body   json.RawMessage
			}
		}
		if err := json.Unmarshal(r, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Server.IP != ip {
			continue
		}
		tlsPort := rec.Server.Port >= 9443 && rec.Server.Port <= 9446
		if tlsPort != (rec.TLS != nil && rec.TLS.Library == config.TLSLibraryGo) {
			t.Errorf("record on port %d with tls %+v", rec.Server.Port, rec.TLS)
		}
		if got[rec.Server.Port] == nil {
			got[rec.Server.Port] = map[string][]string{}
		}
		got[rec.Server.Port][rec.Protocol] = append(got[rec.Server.Port][rec.Protocol],
			fmt.Sprintf("%s %s?%s %s → %d %s", rec.Request.Method, rec.Request.Path, rec.Request.Query, rec.Request.Body, rec.Response.Status, bytes.TrimSpace(rec.Response.Body)))
	}
	for name, s := range servers {
		plain := got[s.plainPt]["http/1.1"]
		slices.Sort(plain)
		if len(plain) != 6 {
			t.Errorf("%s: %d plaintext pairs, want 6: %v", name, len(plain), plain)
		}
		for _, proto := range []string{"http/1.1", "h2"} {
			overTLS := got[s.tlsPort][proto]
			slices.Sort(overTLS)
			if !slices.Equal(overTLS, plain) {
				t.Errorf("%s over TLS, %s: pairs\n%s\nwant those of the plaintext run\n%s", name, proto, strings.Join(overTLS, "\n"), strings.Join(plain, "\n"))
			}
			t.Logf("Go %s, %s over TLS: %d of %d pairs matched", name, proto, matched(overTLS, plain), len(plain))
		}
	}
	if d := notRead() - notReadBefore; d != 0 {
		t.Errorf("podtap_tls_connections_total +%v: Go's TLS connections, read, were also counted as not read", d)
	}
	if d := unmapped() - unmappedBefore; d < 1 {
		t.Errorf("unmapped +%v, want the Unix socket's TLS counted", d)
	}
}

// goCapture is the sidecar of the Go TLS tests: packet capture on the
// pod's eth0 and TLS capture of Go programs, into one pipeline.
type goCapture struct {
	out    *collector
	logs   *testenv.LogBuffer
	p      *sidecar.Pipeline
	cancel context.CancelFunc
	done   chan error
}

// startGoCapture starts capture of ports on pod, with capture.tls go and
// flow.idle_timeout 1s.
func startGoCapture(t *testing.T, pod *netns.Pod, ports ...int) *goCapture {
	t.Helper()
	cfg := config.DefaultSidecar()
	cfg.Capture.Ports = ports
	cfg.Capture.TLS = config.TLSLibraryGo
	cfg.Flow.IdleTimeout = time.Second
	gc := &goCapture{out: &collector{}, logs: &testenv.LogBuffer{}, done: make(chan error, 2)}
	var err error
	gc.p, err = sidecar.New(cfg, gc.out, sidecar.Where{PodIPs: []netip.Addr{netip.MustParseAddr(pod.IP())}})
	if err != nil {
		t.Fatal(err)
	}
	var pkts capture.Source
	if err := pod.Do(func() (err error) { pkts, err = capture.OpenLive("eth0", cfg.Capture); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pkts.Close() })
	src, err := tlscapture.Open(tlscapture.Options{Libraries: []string{config.TLSLibraryGo}, Rescan: 200 * time.Millisecond,
		IdleTimeout: time.Second, Log: slog.New(slog.NewJSONHandler(gc.logs, nil))})
	if err != nil {
		if testenv.OnCI() {
			t.Fatal(err)
		}
		t.Skipf("SKIPPED, NOT RUN: TLS capture unavailable: %v", err)
	}
	t.Cleanup(src.Close)
	var ctx context.Context
	ctx, gc.cancel = context.WithCancel(context.Background())
	go func() { gc.done <- gc.p.Run(ctx, pkts) }()
	go func() { gc.done <- gc.p.RunTLS(ctx, src) }()
	return gc
}

// waitProbed waits for TLS capture to probe the process pid.
func (gc *goCapture) waitProbed(t *testing.T, name string, pid int) {
	t.Helper()
	probed := fmt.Sprintf(`"msg":"tls capture probing","library":"go","pid":%d,`, pid)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(gc.logs.String(), probed) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(gc.logs.String(), probed) {
		t.Fatalf("the %s Go server (pid %d) was never probed:\n%s", name, pid, gc.logs.String())
	}
}

// finish stops both sources, which ends every connection, and returns the
// records.
func (gc *goCapture) finish(t *testing.T) [][]byte {
	t.Helper()
	gc.cancel()
	for range 2 {
		if err := <-gc.done; err != nil {
			t.Fatal(err)
		}
	}
	gc.p.Close()
	gc.out.mu.Lock()
	defer gc.out.mu.Unlock()
	return gc.out.records
}

// matched counts the pairs of got that want has, as a multiset.
func matched(got, want []string) int {
	left := slices.Clone(want)
	n := 0
	for _, g := range got {
		if i := slices.Index(left, g); i >= 0 {
			left = slices.Delete(left, i, i+1)
			n++
		}
	}
	return n
}

// buildGoTLS builds testdata/gotls, the tests' Go crypto/tls program.
func buildGoTLS(t *testing.T, out string, flags ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"build", "-o", out}, flags...), "./testdata/gotls")...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", flags, err, b)
	}
}

// startInPod runs bin in pod's network namespace until the test ends and
// returns its PID (ip netns exec execs it in place).
func startInPod(t *testing.T, pod *netns.Pod, bin string, args ...string) int {
	t.Helper()
	cmd := pod.Command(bin, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _, _ = cmd.Process.Wait() })
	return cmd.Process.Pid
}

// startApart runs bin in pod's network namespace and a PID namespace of
// its own, which TLS capture does not see, until the test ends.
func startApart(t *testing.T, pod *netns.Pod, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command("unshare", append([]string{"--pid", "--fork", "--kill-child", "ip", "netns", "exec", pod.Name, bin}, args...)...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _, _ = cmd.Process.Wait() })
}

// callProbed runs gotls call where TLS capture sees it.
func callProbed(t *testing.T, bin string, args ...string) {
	t.Helper()
	if b, err := exec.Command(bin, append([]string{"call"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("gotls call %v: %v\n%s", args, err, b)
	}
}

// callApart runs gotls call in a PID namespace of its own: the sidecar
// then sees only the server's side, as in a pod.
func callApart(t *testing.T, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command("unshare", append([]string{"--pid", "--fork", bin, "call"}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gotls call %v: %v\n%s", args, err, b)
	}
}
