package sidecar_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar/metrics"
)

// TestLiveTLSNotDecrypted runs Debian's openssl s_server in a pod and
// calls it from the host with curl and Go's crypto/tls, next to plain
// HTTP: each TLS connection is counted by server, SNI and ALPN as podtap
// could not read it, none is a parse error, and the HTTP is still paired.
func TestLiveTLSNotDecrypted(t *testing.T) {
	openssl := testenv.RequireTool(t, "openssl")
	curl := testenv.RequireTool(t, "curl")
	lp := newLivePod(t, "eth0", func(c *config.Sidecar) { c.Capture.Ports = []int{8080, 9443} })
	host := lp.pod.IP()

	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if out, err := exec.Command(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=shop.example.com", "-days", "1").CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	srv := lp.pod.Command(openssl, "s_server", "-accept", "9443", "-cert", cert, "-key", key, "-www", "-quiet")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	addr := net.JoinHostPort(host, "9443")
	waitListening(t, addr)
	server := addr

	curlTLS := func() float64 {
		return testutil.ToFloat64(metrics.TLSConnections.WithLabelValues(server, "shop.example.com", "http/1.1", metrics.TLSCaptureOff))
	}
	goTLS := func() float64 {
		return testutil.ToFloat64(metrics.TLSConnections.WithLabelValues(server, "orders.internal", "h2", metrics.TLSCaptureOff))
	}
	tlsConns := func() float64 { return testutil.ToFloat64(metrics.ConnectionsTotal.WithLabelValues("tls")) }
	curlBefore, goBefore, connsBefore := curlTLS(), goTLS(), tlsConns()
	parseErrors := counterSum(t, "podtap_parse_errors_total")

	const curls, gos, plain = 3, 2, 4
	for range curls {
		out, err := exec.Command(curl, "-sS", "-k", "--http1.1", "--max-time", "10",
			"--resolve", "shop.example.com:9443:"+host, "https://shop.example.com:9443/").CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v\n%s", err, out)
		}
	}
	for range gos {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr,
			&tls.Config{ServerName: "orders.internal", NextProtos: []string{"h2"}, InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("go tls: %v", err)
		}
		c.Close()
	}
	var d net.Dialer
	probes, notFound := load(t, d.DialContext, "http://"+net.JoinHostPort(host, "8080"), 1, plain)
	records := lp.finish(t)

	if got := curlTLS() - curlBefore; got != curls {
		t.Errorf("curl's connections counted %v, want %d", got, curls)
	}
	if got := goTLS() - goBefore; got != gos {
		t.Errorf("Go's connections counted %v, want %d", got, gos)
	}
	if got := tlsConns() - connsBefore; got != curls+gos {
		t.Errorf("podtap_connections_total{protocol=tls} +%v, want %d", got, curls+gos)
	}
	if got := counterSum(t, "podtap_parse_errors_total") - parseErrors; got != 0 {
		t.Errorf("%v parse errors from TLS", got)
	}
	if want := plain - probes - notFound; len(records) != want {
		t.Errorf("%d HTTP pairs, want %d", len(records), want)
	}
}

// waitListening waits for a TCP listener at addr, then closes the probe
// connection before sending anything.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if ctx.Err() != nil {
			t.Fatal(fmt.Errorf("%s never listened: %w", addr, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
