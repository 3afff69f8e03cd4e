package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "podtap.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	cfg := DefaultSidecar()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	got, err := LoadSidecar(Source{Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Limits.MaxMessageBytes != MiB || got.Pairing.ResponseTimeout != 10*time.Second ||
		got.Sink.Type != "stdout" || !got.Filter.Enabled || got.Kafka.Topic != "podtap.pairs" {
		t.Fatalf("defaults not loaded: %+v", got)
	}
}

func TestPrecedenceFileEnvFlags(t *testing.T) {
	file := writeFile(t, `
capture:
  interface: file0
  ports: [80, 443]
limits:
  max_message_bytes: 2Mi
pairing:
  response_timeout: 3s
filter:
  drop_paths: [/a, /b]
`)
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("interface", "", "")
	fs.String("ports", "", "")
	if err := fs.Parse([]string{"--interface", "flag0"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadSidecar(Source{
		File:     file,
		Flags:    fs,
		FlagKeys: map[string]string{"interface": "capture.interface", "ports": "capture.ports"},
		Env: []string{
			"PODTAP_CAPTURE_INTERFACE=env0",
			"PODTAP_PAIRING_RESPONSE_TIMEOUT=4s",
			"POD_IP=10.1.2.3,fd00::3",
			"POD_NAME=checkout-1",
			"HOME=/root",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Capture.Interface != "flag0" {
		t.Errorf("flag must beat env and file: interface %q", cfg.Capture.Interface)
	}
	if cfg.Pairing.ResponseTimeout != 4*time.Second {
		t.Errorf("env must beat file: timeout %v", cfg.Pairing.ResponseTimeout)
	}
	if cfg.Limits.MaxMessageBytes != 2*MiB {
		t.Errorf("file must beat defaults: %v", cfg.Limits.MaxMessageBytes)
	}
	if len(cfg.Capture.Ports) != 2 || cfg.Capture.Ports[1] != 443 {
		t.Errorf("unset flag must not override the file: ports %v", cfg.Capture.Ports)
	}
	if strings.Join(cfg.Filter.DropPaths, ",") != "/a,/b" {
		t.Errorf("a list in the file replaces the default list: %v", cfg.Filter.DropPaths)
	}
	if strings.Join(cfg.Pod.IPs, ",") != "10.1.2.3,fd00::3" || cfg.Pod.Name != "checkout-1" {
		t.Errorf("downward API env not read: %+v", cfg.Pod)
	}
}

func TestEnvListsAndSizes(t *testing.T) {
	cfg, err := LoadSidecar(Source{Env: []string{
		"PODTAP_CAPTURE_PORTS=8080, 9090",
		"PODTAP_FILTER_CONTENT_TYPES=application/json",
		"PODTAP_KAFKA_SPOOL_MAX_BYTES=512Mi",
		"PODTAP_FILTER_ENABLED=false",
		"PODTAP_SINK_TYPE=file:/tmp/pairs.jsonl",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Capture.Ports) != 2 || cfg.Capture.Ports[0] != 8080 || cfg.Capture.Ports[1] != 9090 {
		t.Errorf("ports %v", cfg.Capture.Ports)
	}
	if len(cfg.Filter.ContentTypes) != 1 {
		t.Errorf("content types %v", cfg.Filter.ContentTypes)
	}
	if cfg.Kafka.Spool.MaxBytes != 512*MiB {
		t.Errorf("spool %v", cfg.Kafka.Spool.MaxBytes)
	}
	if cfg.Filter.Enabled {
		t.Error("filter.enabled=false not applied")
	}
	if cfg.Sink.Type != "file" || cfg.Sink.Path != "/tmp/pairs.jsonl" {
		t.Errorf("sink %+v", cfg.Sink)
	}
}

// TestServiceLinksAreNotSettings: Kubernetes gives every pod env vars for
// the Services of its namespace; a Service named podtap-webhook must not
// stop podtap's own processes.
func TestServiceLinksAreNotSettings(t *testing.T) {
	_, err := LoadSidecar(Source{Env: []string{
		"PODTAP_SERVICE_HOST=10.0.0.1",
		"PODTAP_PORT=tcp://10.0.0.1:443",
		"PODTAP_WEBHOOK_SERVICE_HOST=10.0.0.2",
		"PODTAP_WEBHOOK_SERVICE_PORT=443",
		"PODTAP_WEBHOOK_SERVICE_PORT_HTTPS=443",
		"PODTAP_WEBHOOK_PORT=tcp://10.0.0.2:443",
		"PODTAP_WEBHOOK_PORT_443_TCP=tcp://10.0.0.2:443",
		"PODTAP_WEBHOOK_PORT_443_TCP_ADDR=10.0.0.2",
		"PODTAP_WEBHOOK_PORT_443_TCP_PORT=443",
		"PODTAP_WEBHOOK_PORT_443_TCP_PROTO=tcp",
	}})
	if err != nil {
		t.Fatalf("service-link env rejected: %v", err)
	}
	if _, err := LoadSidecar(Source{Env: []string{"PODTAP_LIMITS_MAX_MESSAGE_BYTE=1"}}); err == nil {
		t.Fatal("a misspelt key that is no service link was accepted")
	}
	// Variables of the tools around podtap are no settings either.
	if _, err := LoadSidecar(Source{Env: []string{"PODTAP_CACHE=/root/.cache/podtap"}}); err != nil {
		t.Fatalf("a tool's variable rejected: %v", err)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name string
		src  Source
		want []string
	}{
		{"unknown file key", Source{File: writeFile(t, "capture:\n  interfac: eth0\n"), Env: []string{}},
			[]string{"capture.interfac", "accepted keys"}},
		{"unknown env", Source{Env: []string{"PODTAP_CAPTURE_INTERFAC=eth0"}},
			[]string{"PODTAP_CAPTURE_INTERFAC", "accepted"}},
		{"bad duration", Source{Env: []string{"PODTAP_PAIRING_RESPONSE_TIMEOUT=soon"}},
			[]string{"pairing.response_timeout"}},
		{"bad size", Source{Env: []string{"PODTAP_LIMITS_MAX_MESSAGE_BYTES=lots"}},
			[]string{"limits.max_message_bytes", "byte size"}},
		{"bad enum", Source{Env: []string{"PODTAP_GRPC_REFLECTION=sometimes"}},
			[]string{"grpc.reflection", `"inbound", "all" or "off"`}},
		{"bad sink", Source{Env: []string{"PODTAP_SINK_TYPE=carrier-pigeon"}},
			[]string{"sink.type", "stdout"}},
		{"kafka without brokers", Source{Env: []string{"PODTAP_SINK_TYPE=kafka"}},
			[]string{"kafka.brokers"}},
		{"bad port", Source{Env: []string{"PODTAP_CAPTURE_PORTS=0"}},
			[]string{"capture.ports", "1 to 65535"}},
		{"bad tls library", Source{Env: []string{"PODTAP_CAPTURE_TLS=openssl,gnutls"}},
			[]string{"capture.tls", "openssl, boringssl, go"}},
		{"bad pod ip", Source{Env: []string{"POD_IP=not-an-ip"}},
			[]string{"pod.ip"}},
		{"bad status rule", Source{Env: []string{"PODTAP_FILTER_DROP_STATUSES=4x"}},
			[]string{"filter.drop_statuses"}},
		{"tls ring not a power of two", Source{Env: []string{"PODTAP_CAPTURE_TLS_RING_BYTES=3Mi"}},
			[]string{"capture.tls_ring_bytes", "3Mi", "power of two"}},
		{"tls ring smaller than an event", Source{Env: []string{"PODTAP_CAPTURE_TLS_RING_BYTES=16Ki"}},
			[]string{"capture.tls_ring_bytes", "64Ki"}},
		{"tls ring too large", Source{Env: []string{"PODTAP_CAPTURE_TLS_RING_BYTES=2Gi"}},
			[]string{"capture.tls_ring_bytes", "1Gi"}},
		{"short report interval", Source{Env: []string{"PODTAP_REPORT_INTERVAL=10ms"}},
			[]string{"report.interval", "at least 1s"}},
		{"bad coverage topic", Source{Env: []string{"PODTAP_KAFKA_COVERAGE_TOPIC=a topic"}},
			[]string{"kafka.coverage_topic", "Kafka topic name"}},
		{"missing file", Source{File: "/nonexistent/podtap.yaml", Env: []string{}},
			[]string{"/nonexistent/podtap.yaml"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadSidecar(tc.src)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	cases := map[string]ByteSize{"0": 0, "1024": 1024, "512Ki": 512 * KiB, "1Mi": MiB, "2MiB": 2 * MiB, "1Gi": GiB, "3k": 3000, "2MB": 2000000}
	for in, want := range cases {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1.5Mi", "Mi", "12Ti", "99999999999999999Gi"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", bad)
		}
	}
	if s := (3 * MiB).String(); s != "3Mi" {
		t.Errorf("String = %s", s)
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("limits.max_message_bytes"); got != "PODTAP_LIMITS_MAX_MESSAGE_BYTES" {
		t.Fatal(got)
	}
	keys := Keys(Sidecar{})
	for _, want := range []string{"capture.interface", "kafka.spool.dir", "kafka.sasl.password_file", "grpc.emit_undecoded"} {
		found := false
		for _, k := range keys {
			found = found || k == want
		}
		if !found {
			t.Errorf("key %s missing from Keys", want)
		}
	}
}
