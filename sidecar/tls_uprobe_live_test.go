package sidecar_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/netns"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/tlscapture"
)

// nginxTLSConf serves JSON over TLS (HTTP/1.1 and h2 by ALPN) on 8443 and
// the same over plaintext on 8080, for the comparison run.
const nginxTLSConf = `daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
worker_processes 1;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[1]s;
	proxy_temp_path %[1]s;
	fastcgi_temp_path %[1]s;
	uwsgi_temp_path %[1]s;
	scgi_temp_path %[1]s;
	server {
		listen 8443 ssl http2;
		listen 8080;
		ssl_certificate %[1]s/cert.pem;
		ssl_certificate_key %[1]s/key.pem;
		location /api/ {
			default_type application/json;
			return 200 '{"path":"$uri","n":"$arg_n"}';
		}
	}
}
`

// TestTLSNginxOpenSSL drives Debian's nginx (OpenSSL 3) with curl over TLS,
// HTTP/1.1 and h2, and wants every pair from TLS capture, with its body and
// marked with the library. Short connections closed right after their
// response are the case that once raced.
func TestTLSNginxOpenSSL(t *testing.T) {
	testenv.RequireTool(t, "nginx")
	testenv.RequireTool(t, "curl")
	testenv.RequireTool(t, "openssl")
	testenv.RequireTool(t, "unshare")
	pod := testenv.NewPod(t, "pttls-", 218, 1)
	startTLSNginx(t, pod)

	cfg := config.DefaultSidecar()
	cfg.Capture.TLS = "openssl"
	libs, _ := config.ParseTLS(cfg.Capture.TLS)
	out := &collector{}
	p, err := sidecar.New(cfg, out, sidecar.Where{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := tlscapture.Open(tlscapture.Options{Libraries: libs, Rescan: 200 * time.Millisecond, IdleTimeout: time.Second})
	if err != nil {
		if testenv.OnCI() {
			t.Fatal(err)
		}
		t.Skipf("SKIPPED, NOT RUN: TLS capture unavailable: %v", err)
	}
	defer src.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.RunTLS(ctx, src) }()

	deadline := time.Now().Add(10 * time.Second)
	for src.Attached() == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if src.Attached() == 0 {
		t.Fatal("nginx's libssl was never probed")
	}

	// curl runs in a PID namespace of its own: the sidecar then sees only
	// the server's side, as in a pod.
	run := func(args ...string) { curlApart(t, args...) }
	ip := pod.IP()
	urls := func(scheme string, port int) []string {
		var u []string
		for i := 0; i < 3; i++ {
			u = append(u, fmt.Sprintf("%s://%s:%d/api/item?n=%d", scheme, ip, port, i))
		}
		return u
	}
	run(append([]string{"--http1.1"}, urls("https", 8443)...)...)
	run(append([]string{"--http2"}, urls("https", 8443)...)...)
	time.Sleep(2 * time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	p.Close()

	got := map[string][]string{}
	for _, r := range out.records {
		var rec struct {
			Protocol string
			Server   struct{ IP string }
			TLS      *struct{ Library string }
			Request  struct{ Path, Query string }
			Response struct {
				Status int
				Body   json.RawMessage
			}
		}
		if err := json.Unmarshal(r, &rec); err != nil {
			t.Fatal(err)
		}
		// Every process of this machine that maps libssl is probed; only
		// the pod's server counts.
		if rec.Server.IP != ip {
			continue
		}
		if rec.TLS == nil || rec.TLS.Library != "openssl" {
			t.Errorf("record without tls.library openssl: %s", r)
		}
		got[rec.Protocol] = append(got[rec.Protocol], fmt.Sprintf("%s?%s %d %s", rec.Request.Path, rec.Request.Query, rec.Response.Status, rec.Response.Body))
	}
	for proto, want := range map[string]int{"http/1.1": 3, "h2": 3} {
		sort.Strings(got[proto])
		if len(got[proto]) != want {
			t.Errorf("%s: %d pairs, want %d: %v", proto, len(got[proto]), want, got[proto])
		}
		for i, s := range got[proto] {
			if w := fmt.Sprintf("/api/item?n=%d 200", i); !strings.HasPrefix(s, w) || !strings.Contains(s, fmt.Sprintf(`"n":"%d"`, i)) {
				t.Errorf("%s pair %d = %s, want %s with its body", proto, i, s, w)
			}
		}
	}
	t.Logf("pairs matched: http/1.1 %d, h2 %d", len(got["http/1.1"]), len(got["h2"]))
}

// startTLSNginx runs nginx (nginxTLSConf) in pod until the test ends.
func startTLSNginx(t *testing.T, pod *netns.Pod) {
	t.Helper()
	dir := t.TempDir()
	gen := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=pod",
		"-keyout", filepath.Join(dir, "key.pem"), "-out", filepath.Join(dir, "cert.pem"))
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxTLSConf, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	nginx := pod.Command("nginx", "-c", conf)
	nginx.Stderr = os.Stderr
	// nginx's workers are its children: the whole process group goes.
	nginx.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := nginx.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-nginx.Process.Pid, syscall.SIGKILL); _, _ = nginx.Process.Wait() })
}

// curlApart runs curl in a PID namespace of its own: the sidecar then
// sees only the server's side, as in a pod.
func curlApart(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("unshare", append([]string{"--pid", "--fork", "curl", "-sS", "-k", "--retry", "5", "--retry-connrefused", "--retry-delay", "1"}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, b)
	}
}

// TestTLSRingOverflow fills a ring buffer of 64 KiB (three events) before
// anything reads it: the events that did not fit are counted as ring_full,
// the sidecar goes on, and what did fit is still parsed without a crash.
func TestTLSRingOverflow(t *testing.T) {
	for _, tool := range []string{"nginx", "curl", "openssl", "unshare"} {
		testenv.RequireTool(t, tool)
	}
	pod := testenv.NewPod(t, "pttls-", 218, 2)
	startTLSNginx(t, pod)
	waitListening(t, net.JoinHostPort(pod.IP(), "8443"))

	cfg := config.DefaultSidecar()
	p, err := sidecar.New(cfg, &collector{}, sidecar.Where{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := tlscapture.Open(tlscapture.Options{Libraries: []string{config.TLSLibraryOpenSSL}, RingBytes: 64 << 10})
	if err != nil {
		if testenv.OnCI() {
			t.Fatal(err)
		}
		t.Skipf("SKIPPED, NOT RUN: TLS capture unavailable: %v", err)
	}
	defer src.Close()
	if src.Attached() == 0 {
		t.Fatal("nginx's libssl was not probed")
	}
	ringFull := func() float64 {
		return testutil.ToFloat64(metrics.TLSEventsLost.WithLabelValues(metrics.TLSLostRingFull))
	}
	before := ringFull()
	var urls []string
	for n := range 10 {
		urls = append(urls, fmt.Sprintf("https://%s:8443/api/item?n=%d", pod.IP(), n))
	}
	curlApart(t, append([]string{"--http1.1"}, urls...)...)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.RunTLS(ctx, src) }()
	// The kernel's loss counters are read every second.
	deadline := time.Now().Add(5 * time.Second)
	for ringFull() == before && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	p.Close()
	// 10 requests and 10 responses are at least 20 events; 3 fit.
	lost := ringFull() - before
	if lost < 17 {
		t.Errorf("ring_full +%v, want at least 17", lost)
	}
	t.Logf("ring_full +%v", lost)
}
