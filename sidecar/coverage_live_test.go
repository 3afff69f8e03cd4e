package sidecar_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/grpcdemo"
	"github.com/podtap/podtap/internal/schematest"
	"github.com/podtap/podtap/internal/sidecarcmd"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/coverage"
	"github.com/podtap/podtap/sidecar/sink"
)

// coverageNginx is the pod's web server: JSON on every path, an email in
// the users' bodies, 404 for /missing.
const coverageNginx = `	default_type application/json;
	server {
		listen %[1]s:8080;
		location /api/users/ { return 200 '{"id":"$uri","owner":{"email":"jane.doe@example.com"}}'; }
		location = /missing { return 404 '{"error":"missing"}'; }
		location / { return 200 '{"uri":"$uri"}'; }
	}`

// TestLiveCoverageReport runs the sidecar's session (pipeline, Kafka sink
// and coverage reports) on a pod's eth0 where Debian's nginx serves HTTP,
// openssl s_server TLS and a gRPC server with reflection its greeter,
// called by Debian's curl and a gRPC client from the host. The report in
// kafka.coverage_topic (kfake) counts the HTTP pairs, the pair dropped for
// its status, the TLS connection by SNI and ALPN, the gRPC calls by
// service with their schema, and the email seen per endpoint; kcat reads
// the same records.
func TestLiveCoverageReport(t *testing.T) {
	testenv.RequireTool(t, "nginx")
	curl := testenv.RequireTool(t, "curl")
	openssl := testenv.RequireTool(t, "openssl")
	testenv.RequireTool(t, "kcat") // before the capture starts, not after it ran
	pod := testenv.NewPod(t, "ptcv-", 221, 1)
	host := pod.IP()

	testenv.StartNginx(t, pod, fmt.Sprintf(coverageNginx, host), net.JoinHostPort(host, "8080"))
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if out, err := exec.Command(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=shop.example.com", "-days", "1").CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	tlsSrv := pod.Command(openssl, "s_server", "-accept", "9443", "-cert", cert, "-key", key, "-www", "-quiet")
	if err := tlsSrv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tlsSrv.Process.Kill(); _ = tlsSrv.Wait() })
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	gln, err := pod.Listen("tcp", net.JoinHostPort(host, "50051"))
	if err != nil {
		t.Fatal(err)
	}
	gsrv := grpcdemo.NewServer(schema, grpcdemo.ServerOptions{ReflectionV1: true})
	go gsrv.Serve(gln)
	t.Cleanup(gsrv.Stop)
	waitListening(t, net.JoinHostPort(host, "9443"))

	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "podtap.pairs", "podtap.coverage"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	cfg := config.DefaultSidecar()
	cfg.Pod = config.Pod{Namespace: "shop", Name: "api-0", IPs: []string{host}}
	cfg.Capture.Ports = []int{8080, 9443, 50051}
	cfg.Sink.Type = "kafka"
	cfg.Kafka.Brokers = kc.ListenAddrs()
	cfg.Report.Interval = time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var src capture.Source
	if err := pod.Do(func() (err error) { src, err = capture.OpenLive("eth0", cfg.Capture); return err }); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	session, err := sidecarcmd.Start(ctx, cfg, sidecar.Where{PodIPs: []netip.Addr{netip.MustParseAddr(host)}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- session.Run(ctx, src) }()

	base := "http://" + net.JoinHostPort(host, "8080")
	calls := []string{base + "/items/1", base + "/items/2", base + "/api/users/17", base + "/api/users/18", base + "/missing"}
	for _, u := range calls {
		if out, err := exec.Command(curl, "-sS", "--max-time", "10", "-o", "/dev/null", u).CombinedOutput(); err != nil {
			t.Fatalf("curl %s: %v\n%s", u, err, out)
		}
	}
	if out, err := exec.Command(curl, "-sS", "-k", "--http1.1", "--max-time", "10", "-o", "/dev/null",
		"--resolve", "shop.example.com:9443:"+host, "https://shop.example.com:9443/").CombinedOutput(); err != nil {
		t.Fatalf("curl https: %v\n%s", err, out)
	}

	grpc50051 := net.JoinHostPort(host, "50051")
	cc, err := grpc.NewClient(grpc50051, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	greeter := grpcdemo.NewClient(cc, schema)
	for _, name := range []string{"ada", "grace"} {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := greeter.SayHello(cctx, schema.NewRequest(name, 1, nil))
		cancel()
		if err != nil {
			t.Fatalf("SayHello: %v", err)
		}
	}

	web8080, tls9443 := net.JoinHostPort(host, "8080"), net.JoinHostPort(host, "9443")
	want := func(r coverage.Report) error {
		s := serverOf(r, web8080)
		switch {
		case s == nil:
			return fmt.Errorf("no entry for %s", web8080)
		case s.Connections["http1"] != 5 || s.Pairs["http/1.1"] != 4 || s.Drops["status"] != 1 || len(s.Drops) != 1:
			return fmt.Errorf("%s: %+v, want 5 http1 connections, 4 http/1.1 pairs, 1 status drop", web8080, *s)
		}
		if s := serverOf(r, tls9443); s == nil || s.Connections["tls"] != 1 || len(s.Pairs) != 0 {
			return fmt.Errorf("%s: %+v, want 1 tls connection and no pair", tls9443, s)
		}
		// podtap's own reflection call crosses eth0 too: a second
		// connection, its pair dropped as internal.
		if s := serverOf(r, grpc50051); s == nil || s.Connections["http2"] != 2 || s.Pairs["grpc"] != 2 || s.Drops["internal"] != 1 || len(s.Drops) != 1 {
			return fmt.Errorf("%s: %+v, want 2 http2 connections (the client's, podtap's reflection), 2 grpc pairs, 1 internal drop", grpc50051, s)
		}
		if want := (coverage.Service{Server: grpc50051, Service: grpcdemo.Service, WithSchema: 2}); len(r.GRPC) != 1 || r.GRPC[0] != want {
			return fmt.Errorf("grpc services %+v, want only %+v", r.GRPC, want)
		}
		tlsOK := false
		for _, e := range r.TLS {
			tlsOK = tlsOK || (e == coverage.TLS{Server: tls9443, SNI: "shop.example.com", ALPN: "http/1.1", Reason: "capture_off", Connections: 1})
		}
		if !tlsOK {
			return fmt.Errorf("tls entries %+v lack %s sni=shop.example.com alpn=http/1.1 ×1", r.TLS, tls9443)
		}
		for _, e := range r.Sensitive {
			if e.Server == web8080 && e.Endpoint == "GET /api/users/{id}" && e.Types["email"] == 2 && len(e.Types) == 1 {
				return nil
			}
		}
		return fmt.Errorf("sensitive %+v lack GET /api/users/{id} email=2", r.Sensitive)
	}

	// A periodic report, while the sidecar runs, shows the traffic.
	var last error
	deadline := time.Now().Add(20 * time.Second)
	for {
		reports := readCoverage(t, cfg.Kafka)
		if n := len(reports); n > 0 {
			if last = want(reports[n-1]); last == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no coverage report with the traffic within 20s: %v", last)
		}
		time.Sleep(300 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := session.Close(); err != nil {
		t.Fatal(err)
	}

	// kcat, an independent client: every record is keyed by the pod,
	// carries the schema header and matches the schema; the last one, the
	// report sent at the end, still has the counts.
	var final coverage.Report
	n := 0
	for _, m := range testenv.KcatRead(t, cfg.Kafka.Brokers[0], cfg.Kafka.CoverageTopic) {
		if m.Key != "shop/api-0" || strings.Join(m.Headers, ",") != "schema,"+coverage.Schema {
			t.Fatalf("kcat record %d: key %q headers %v", n, m.Key, m.Headers)
		}
		if err := schematest.ValidateCoverage([]byte(m.Payload)); err != nil {
			t.Fatalf("kcat record %d: %v\n%s", n, err, m.Payload)
		}
		if err := json.Unmarshal([]byte(m.Payload), &final); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n < 2 {
		t.Fatalf("kcat read %d reports, want the periodic ones and the last", n)
	}
	if err := want(final); err != nil {
		t.Errorf("the last report: %v", err)
	}
	// The sidecar-wide drops come from the real metrics (process-wide, so
	// other tests' drops may be in them too).
	if final.Drops["status"] < 1 {
		t.Errorf("the sidecar-wide drops %v lack the status drop", final.Drops)
	}

	// consume --coverage prints the same reports as tables.
	var table bytes.Buffer
	kcfg := cfg.Kafka
	kcfg.Topic = kcfg.CoverageTopic
	if err := sink.Consume(context.Background(), kcfg, &table, sink.ConsumeOptions{Print: coverage.WriteTable}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"pod shop/api-0", web8080, "http1=5", "status=1", "shop.example.com", "GET /api/users/{id}", "email=2"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("the tables lack %q:\n%s", s, table.String())
		}
	}
}

func serverOf(r coverage.Report, addr string) *coverage.Server {
	for i := range r.Servers {
		if r.Servers[i].Server == addr {
			return &r.Servers[i]
		}
	}
	return nil
}

// readCoverage reads every report in kafka.coverage_topic.
func readCoverage(t *testing.T, k config.Kafka) []coverage.Report {
	t.Helper()
	k.Topic = k.CoverageTopic
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sink.Consume(ctx, k, &out, sink.ConsumeOptions{ValueOnly: true}); err != nil {
		t.Fatal(err)
	}
	var reports []coverage.Report
	for l := range bytes.Lines(out.Bytes()) {
		var r coverage.Report
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("a coverage record is not a report: %v\n%s", err, l)
		}
		reports = append(reports, r)
	}
	return reports
}
