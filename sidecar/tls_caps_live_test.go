package sidecar_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/bench/scenario"
	"github.com/podtap/podtap/internal/netns"
	"github.com/podtap/podtap/internal/testenv"
)

// TestTLSSidecarCapabilities runs the real podtap-sidecar with capture.tls
// on as an unprivileged user (uid 12345) holding only NET_RAW and
// config.TLSCaptureCapabilities, beside nginx (master root, workers nobody) in the same
// PID namespace, the way the webhook sets a pod up. With all of them TLS
// capture gives the pairs of the plaintext run of the same requests; with
// any one missing it is off, says so in the log, and packet capture goes
// on. That is the measurement behind TLSCaptureCapabilities. A Go
// crypto/tls server beside nginx is read too when capture.tls names go,
// with the same capabilities; when it names only openssl, the Go server's
// connection is reported as not_probed with its SNI, and nginx's read
// connection is not.
func TestTLSSidecarCapabilities(t *testing.T) {
	for _, tool := range []string{"nginx", "curl", "openssl", "unshare", "setpriv", "ip"} {
		testenv.RequireTool(t, tool)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	bin, err := scenario.BuildSidecar(ctx, t.TempDir())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	// uid 12345 must be able to run it.
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	full := append([]string{"NET_RAW"}, config.TLSCaptureCapabilities...)
	cases := []capsCase{
		{name: "all", caps: full, wantTLS: true},
		{name: "all, go too", caps: full, wantTLS: true, libraries: "openssl,go"},
	}
	for _, c := range config.TLSCaptureCapabilities {
		cases = append(cases, capsCase{name: "without " + c, caps: slices.DeleteFunc(slices.Clone(full), func(s string) bool { return s == c }), wantLog: tlsOffLog[c]})
	}
	// /proc/PID/maps, root and exe of another user's process are guarded by
	// ptrace access checks, which DAC_READ_SEARCH does not pass.
	cases = append(cases, capsCase{name: "DAC_READ_SEARCH for SYS_PTRACE", caps: []string{"NET_RAW", "BPF", "PERFMON", "DAC_READ_SEARCH"}, wantLog: tlsOffLog["SYS_PTRACE"]})
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := testenv.NewPod(t, "pttlc-", 219, uint8(i+1))
			startTLSNginx(t, pod)
			waitListening(t, net.JoinHostPort(pod.IP(), "8443"))
			goSrv := startGoTLSServer(t, pod)
			libraries := tc.libraries
			if libraries == "" {
				libraries = config.TLSLibraryOpenSSL
			}
			readGo := strings.Contains(libraries, config.TLSLibraryGo)
			sc := startCapsSidecar(t, bin, pod.Name, pod.IP(), libraries, tc.caps)

			ip := pod.IP()
			var tlsURLs, plainURLs []string
			for n := range 3 {
				tlsURLs = append(tlsURLs, fmt.Sprintf("https://%s:8443/api/item?n=%d", ip, n))
				plainURLs = append(plainURLs, fmt.Sprintf("http://%s:8080/api/item?n=%d", ip, n))
			}
			// A Go server answers the client's FIN with a close_notify and
			// gets a RST back; packet capture ends that connection at
			// flow.idle_timeout (1s here), not at once.
			curlApart(t, "--http1.1", "--resolve", "orders.internal:9443:"+ip, "https://"+goSrv+"/orders")
			curlApart(t, append([]string{"--http1.1"}, tlsURLs...)...)
			curlApart(t, append([]string{"--http1.1"}, plainURLs...)...)
			time.Sleep(3 * time.Second)
			unread, err := scrapeSum(sc.metrics, "podtap_tls_connections_total")
			if err != nil {
				t.Fatal(err)
			}
			// Go's crypto/tls, unless probed, is reported with its SNI.
			goUnread, err := scrapeMatching(sc.metrics, "podtap_tls_connections_total", `sni="orders.internal"`)
			if err != nil {
				t.Fatal(err)
			}
			notProbed, err := scrapeMatching(sc.metrics, "podtap_tls_connections_total", `reason="not_probed"`)
			if err != nil {
				t.Fatal(err)
			}
			recs, log := sc.stop(t)

			var overTLS, plain, goPairs []string
			for _, r := range recs {
				// Every TLS user of this machine is probed; only the pod's
				// servers count.
				if r.Server.IP != ip {
					continue
				}
				s := fmt.Sprintf("%s?%s %d %s", r.Request.Path, r.Request.Query, r.Response.Status, r.Response.Body)
				switch {
				case r.TLS != nil && r.TLS.Library == config.TLSLibraryOpenSSL && r.Server.Port == 8443:
					overTLS = append(overTLS, s)
				case r.TLS == nil && r.Server.Port == 8080:
					plain = append(plain, s)
				case r.TLS != nil && r.TLS.Library == config.TLSLibraryGo && r.Server.Port == 9443:
					goPairs = append(goPairs, s)
				default:
					t.Errorf("unexpected record %+v", r)
				}
			}
			sort.Strings(overTLS)
			sort.Strings(plain)
			if len(plain) != 3 {
				t.Errorf("packet capture gave %d plaintext pairs, want 3: %v\n%s", len(plain), plain, log)
			}
			if tc.wantTLS && readGo {
				if !slices.Equal(overTLS, plain) {
					t.Errorf("pairs over TLS %v, want those of the plaintext run %v\n%s", overTLS, plain, log)
				}
				// Both servers' connections were read: none reported.
				if want := []string{"/orders? 200 {}"}; !slices.Equal(goPairs, want) || unread != 0 || notProbed != 0 {
					t.Errorf("Go pairs %v, want %v; podtap_tls_connections_total %v (not_probed %v), want 0\n%s", goPairs, want, unread, notProbed, log)
				}
				return
			}
			if len(goPairs) != 0 {
				t.Errorf("Go pairs %v with capture.tls %s", goPairs, libraries)
			}
			if tc.wantTLS {
				if !slices.Equal(overTLS, plain) {
					t.Errorf("pairs over TLS %v, want those of the plaintext run %v\n%s", overTLS, plain, log)
				}
				// curl's one connection was read: not also reported unread;
				// Go's was not read, and is reported as not probed.
				if unread != 1 || goUnread != 1 {
					t.Errorf("podtap_tls_connections_total %v, Go's %v; want 1, Go's connection only", unread, goUnread)
				}
				if notProbed != 1 {
					t.Errorf("not_probed %v, want 1", notProbed)
				}
				return
			}
			if unread != 2 || goUnread != 1 {
				t.Errorf("podtap_tls_connections_total %v, Go's %v; want 2: curl's and Go's connections, not read", unread, goUnread)
			}
			if len(overTLS) != 0 {
				t.Errorf("TLS capture without %v gave %d pairs; that capability is not needed", tc.name, len(overTLS))
			}
			if !strings.Contains(log, tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, log)
			}
			t.Logf("%s: TLS capture off, as the log says", tc.name)
		})
	}
}

// capsCase is one set of capabilities the sidecar runs with.
type capsCase struct {
	name    string
	caps    []string
	wantTLS bool
	// libraries is capture.tls; openssl when empty.
	libraries string
	// wantLog is in the sidecar's log when TLS capture is off.
	wantLog string
}

// startGoTLSServer serves HTTPS with Go's crypto/tls on 9443 of pod, from
// this test's process, and returns its name and port.
func startGoTLSServer(t *testing.T, pod *netns.Pod) string {
	t.Helper()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=orders.internal", "-days", "1").CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	ln, err := pod.Listen("tcp", ":9443")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	})}
	go func() { _ = srv.ServeTLS(ln, cert, key) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "orders.internal:9443"
}

// scrapeMatching adds up the samples of metric name whose labels contain
// label.
func scrapeMatching(base, name, label string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, label) {
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

// tlsOffLog is what the sidecar logs when TLS capture lacks a capability.
var tlsOffLog = map[string]string{
	"BPF":        `"msg":"tls capture is off: packets only","reason":"missing_capability"`,
	"PERFMON":    `"msg":"tls capture is off: packets only","reason":"missing_capability"`,
	"SYS_PTRACE": `"msg":"tls capture found no TLS library to probe; it looks again for new processes","reason":"no_library"`,
}

type capsRecord struct {
	TLS    *struct{ Library string }
	Server struct {
		IP   string
		Port int
	}
	Request  struct{ Path, Query string }
	Response struct {
		Status int
		Body   json.RawMessage
	}
}

type capsSidecar struct {
	cmd     *exec.Cmd
	metrics string
	out     *bufio.Scanner
	logFile string
}

// startCapsSidecar runs the sidecar in namespace ns as uid 12345 with only
// caps, effective through the ambient set as a container's are, and
// waits for it to be ready. capture.tls is libraries; env adds settings
// (KEY=VALUE).
func startCapsSidecar(t *testing.T, bin, ns, ip, libraries string, caps []string, env ...string) *capsSidecar {
	t.Helper()
	set := "-all"
	for _, c := range caps {
		set += ",+" + strings.ToLower(c)
	}
	metricsAddr := net.JoinHostPort(ip, "19090")
	s := &capsSidecar{metrics: "http://" + metricsAddr, logFile: filepath.Join(t.TempDir(), "sidecar.log")}
	s.cmd = exec.Command("ip", "netns", "exec", ns, "setpriv", "--reuid=12345", "--regid=12345", "--clear-groups",
		"--inh-caps="+set, "--ambient-caps="+set, "--bounding-set="+set,
		bin, "run", "--interface", "eth0", "--ports", "8080,8443,9443", "--sink", "stdout", "--metrics-addr", metricsAddr, "--log-level", "info")
	s.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "PODTAP_CAPTURE_TLS=" + libraries, "PODTAP_FLOW_IDLE_TIMEOUT=1s"}, env...)
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
	s.out = bufio.NewScanner(out)
	s.out.Buffer(make([]byte, 0, 1<<20), 4<<20)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.cmd.Process.Kill(); _ = s.cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + metricsAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(s.logFile)
			t.Fatalf("the sidecar did not become ready:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends the sidecar with SIGTERM and returns its records and log.
func (s *capsSidecar) stop(t *testing.T) ([]capsRecord, string) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var recs []capsRecord
	for s.out.Scan() {
		var r capsRecord
		if err := json.Unmarshal(s.out.Bytes(), &r); err != nil {
			t.Fatalf("record %q: %v", s.out.Bytes(), err)
		}
		recs = append(recs, r)
	}
	err := s.cmd.Wait()
	b, _ := os.ReadFile(s.logFile)
	if err != nil {
		t.Fatalf("sidecar: %v\n%s", err, b)
	}
	return recs, string(b)
}
