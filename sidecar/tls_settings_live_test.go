package sidecar_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/bench/scenario"
	"github.com/podtap/podtap/internal/testenv"
)

// buildTLSSidecar builds podtap-sidecar where uid 12345 can run it, or
// skips when the tools of the TLS tests are missing.
func buildTLSSidecar(t *testing.T, tools ...string) string {
	t.Helper()
	for _, tool := range append([]string{"curl", "openssl", "unshare", "setpriv", "ip"}, tools...) {
		testenv.RequireTool(t, tool)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := scenario.BuildSidecar(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestTLSRingBytesSetting sets capture.tls_ring_bytes through the real
// sidecar's environment: the kernel makes the ring buffer of that size
// (the sidecar logs the size the kernel reports), and nginx's TLS pairs
// still come through a ring that holds only three events.
func TestTLSRingBytesSetting(t *testing.T) {
	bin := buildTLSSidecar(t, "nginx")
	const ring = 64 * config.KiB
	if config.DefaultSidecar().Capture.TLSRingBytes == ring {
		t.Fatal("the test's ring size is the default: it would pass without the setting")
	}
	pod := testenv.NewPod(t, "pttlr-", 220, 1)
	startTLSNginx(t, pod)
	waitListening(t, net.JoinHostPort(pod.IP(), "8443"))
	caps := append([]string{"NET_RAW"}, config.TLSCaptureCapabilities...)
	sc := startCapsSidecar(t, bin, pod.Name, pod.IP(), config.TLSLibraryOpenSSL, caps, "PODTAP_CAPTURE_TLS_RING_BYTES="+ring.String())

	var urls []string
	for n := range 3 {
		urls = append(urls, fmt.Sprintf("https://%s:8443/api/item?n=%d", pod.IP(), n))
	}
	curlApart(t, append([]string{"--http1.1"}, urls...)...)
	time.Sleep(2 * time.Second)
	recs, log := sc.stop(t)

	if got := tlsRingLogged(t, log); got != int64(ring) {
		t.Errorf("the sidecar's ring buffer is %d bytes, want %d:\n%s", got, int64(ring), log)
	}
	// The sidecar shares the host's PID namespace here, where other tests
	// may run TLS servers too: only this pod's pairs count.
	tlsPairs := 0
	for _, r := range recs {
		if r.Server.IP == pod.IP() && r.TLS != nil && r.TLS.Library == config.TLSLibraryOpenSSL && r.Response.Status == 200 {
			tlsPairs++
		}
	}
	if tlsPairs != len(urls) {
		t.Errorf("%d TLS pairs through a %s ring, want %d:\n%s", tlsPairs, ring, len(urls), log)
	}
}

// TestTLSUnsupportedLibraryReported runs GnuTLS's own server (gnutls-serv),
// a TLS library podtap has no probes for, beside TLS capture with every
// library on: its connection is reported as not_probed with the SNI and
// ALPN of its ClientHello, in the metric and in the sidecar's log, and
// gives no pair.
func TestTLSUnsupportedLibraryReported(t *testing.T) {
	bin := buildTLSSidecar(t, "gnutls-serv")
	pod := testenv.NewPod(t, "pttlr-", 220, 2)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=ledger.internal", "-days", "1").CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	srv := pod.Command("gnutls-serv", "--http", "--port", "9443", "--x509certfile", cert, "--x509keyfile", key)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	waitListening(t, net.JoinHostPort(pod.IP(), "9443"))
	caps := append([]string{"NET_RAW"}, config.TLSCaptureCapabilities...)
	sc := startCapsSidecar(t, bin, pod.Name, pod.IP(), "on", caps)

	curlApart(t, "--http1.1", "--resolve", "ledger.internal:9443:"+pod.IP(), "https://ledger.internal:9443/")
	// Packet capture ends the connection, and counts it, at its FIN or at
	// flow.idle_timeout (1s here).
	var reported float64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var err error
		reported, err = scrapeMatching(sc.metrics, "podtap_tls_connections_total", `alpn="http/1.1",reason="not_probed",server="`+pod.IP()+`:9443",sni="ledger.internal"`)
		if err != nil {
			t.Fatal(err)
		}
		if reported > 0 {
			break
		}
	}
	recs, log := sc.stop(t)
	if reported != 1 {
		t.Errorf("podtap_tls_connections_total for ledger.internal, not_probed: %v, want 1\n%s", reported, log)
	}
	if want := "sni=ledger.internal alpn=http/1.1 ×1"; !strings.Contains(log, want) {
		t.Errorf("log lacks %q:\n%s", want, log)
	}
	for _, r := range recs {
		if r.Server.IP == pod.IP() {
			t.Errorf("a record from a server whose library is not probed: %+v", r)
		}
	}
}

// tlsRingLogged is the ring_bytes of the sidecar's "tls capture on" line.
func tlsRingLogged(t *testing.T, log string) int64 {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		var l struct {
			Msg       string
			RingBytes int64 `json:"ring_bytes"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "tls capture on" {
			return l.RingBytes
		}
	}
	t.Fatalf("no \"tls capture on\" line in the log:\n%s", log)
	return 0
}
