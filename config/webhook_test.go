package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWebhookDefaultsAreValid(t *testing.T) {
	cfg, err := LoadWebhook(Source{Env: []string{}})
	if err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if cfg.Namespace != "podtap-system" || cfg.TLS.Mode != TLSAuto || cfg.Server.Port != 9443 ||
		cfg.Registration.Timeout != 5*time.Second || !cfg.LeaderElection.Enabled ||
		cfg.Injection.NativeSidecar != NativeAuto || cfg.Injection.AllowImageOverride {
		t.Fatalf("defaults not loaded: %+v", cfg)
	}
	if port, err := cfg.Sidecar.HealthPort(); err != nil || port != 17339 {
		t.Fatalf("health port %d, %v", port, err)
	}
}

func TestWebhookLoadsFileEnvAndDownwardNamespace(t *testing.T) {
	file := writeFile(t, `
tls:
  mode: files
injection:
  excluded_namespaces: [monitoring]
sidecar:
  memory_limit: 512Mi
  settings:
    sink: {type: kafka}
    kafka: {brokers: [kafka:9092]}
`)
	cfg, err := LoadWebhook(Source{File: file, Env: []string{
		"POD_NAMESPACE=observability",
		"PODTAP_SIDECAR_SETTINGS_KAFKA_TOPIC=traffic",
		"PODTAP_INJECTION_NATIVE_SIDECAR=false",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Namespace != "observability" || cfg.TLS.Mode != TLSFiles || cfg.Sidecar.MemoryLimit != "512Mi" ||
		cfg.Sidecar.Settings.Sink.Type != "kafka" || cfg.Sidecar.Settings.Kafka.Topic != "traffic" ||
		cfg.Injection.NativeSidecar != NativeNever {
		t.Fatalf("not loaded: %+v", cfg)
	}
	want := []string{"kube-system", "kube-public", "kube-node-lease", "observability", "monitoring"}
	if got := cfg.Excluded(); !slices.Equal(got, want) {
		t.Fatalf("Excluded() = %v, want %v", got, want)
	}
}

func TestWebhookValidateNamesEveryProblem(t *testing.T) {
	cfg := DefaultWebhook()
	cfg.TLS.Mode = "manual"
	cfg.Registration.Timeout = 45 * time.Second
	cfg.Registration.URL = "http://insecure"
	cfg.Injection.NativeSidecar = "maybe"
	cfg.Injection.ExcludedNamespaces = []string{"Not_A_Namespace"}
	cfg.Sidecar.Image = "UPPER CASE"
	cfg.Sidecar.CPURequest = "2"
	cfg.Sidecar.CPULimit = "1"
	cfg.Sidecar.MemoryLimit = "a lot"
	cfg.Sidecar.Settings.Metrics.Addr = ""
	cfg.Sidecar.Settings.Pod.Name = "fixed"
	cfg.Sidecar.Settings.Capture.SampleRate = 3
	err := cfg.Validate()
	if err == nil {
		t.Fatal("an invalid configuration validated")
	}
	for _, want := range []string{
		"tls.mode", "registration.timeout", "registration.url", "injection.native_sidecar",
		"injection.excluded_namespaces", "sidecar.image", "sidecar.memory_limit",
		"sidecar.settings.metrics.addr", "sidecar.settings.pod", "capture.sample_rate",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %s: %v", want, err)
		}
	}

	cfg = DefaultWebhook()
	cfg.Sidecar.CPURequest, cfg.Sidecar.CPULimit = "2", "1"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "cpu request 2 exceeds the cpu limit 1") {
		t.Fatalf("request above limit: %v", err)
	}
	cfg = DefaultWebhook()
	cfg.TLS.CheckInterval = cfg.TLS.RenewBefore
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "tls.check_interval") {
		t.Fatalf("check interval not shorter than the renewal window: %v", err)
	}
}

func TestWebhookKafkaSecretsNeedTheirSettings(t *testing.T) {
	for name, tc := range map[string]struct {
		secrets  KafkaSecrets
		settings func(*Kafka)
		want     string
	}{
		"tls without tls.enabled":       {KafkaSecrets{TLS: "kafka-ca"}, func(*Kafka) {}, "kafka.tls.enabled"},
		"client cert without tls":       {KafkaSecrets{TLSClientCert: true}, func(*Kafka) {}, "sidecar.kafka_secrets.tls_client_cert"},
		"sasl without mechanism":        {KafkaSecrets{SASL: "kafka-user"}, func(*Kafka) {}, "sasl.mechanism"},
		"secret name not a Secret name": {KafkaSecrets{SASL: "Kafka_User"}, func(k *Kafka) { k.SASL.Mechanism = "PLAIN" }, "sidecar.kafka_secrets.sasl"},
		"all set":                       {KafkaSecrets{TLS: "kafka.ca", TLSClientCert: true, SASL: "kafka-user"}, func(k *Kafka) { k.TLS.Enabled, k.SASL.Mechanism = true, "PLAIN" }, ""},
	} {
		cfg := DefaultWebhook()
		cfg.Sidecar.KafkaSecrets = tc.secrets
		tc.settings(&cfg.Sidecar.Settings.Kafka)
		err := cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v does not name %s", name, err, tc.want)
		}
	}
}

func TestWebhookRejectsUnknownKeys(t *testing.T) {
	file := writeFile(t, "sidecar:\n  settings:\n    capture:\n      interfase: eth0\n")
	if _, err := LoadWebhook(Source{File: file, Env: []string{}}); err == nil ||
		!strings.Contains(err.Error(), "sidecar.settings.capture.interfase") {
		t.Fatalf("a misspelt key: %v", err)
	}
}

func TestCheckImage(t *testing.T) {
	for _, ok := range []string{
		"podtap-sidecar", "ghcr.io/podtap/podtap-sidecar:v1.2.3", "localhost:5000/a/b_c.d-e:tag",
		"registry.example/podtap@sha256:" + strings.Repeat("0", 64),
		"registry.example/podtap:v1@sha256:" + strings.Repeat("f", 64),
	} {
		if err := checkImage(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Upper/case", "a b", "img:", "img@sha256:short", "-lead", "a//b", "img:tag with space"} {
		if err := checkImage(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
