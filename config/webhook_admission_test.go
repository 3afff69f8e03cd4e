package config

import (
	"strings"
	"testing"
	"time"
)

func TestAdmissionCheckValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*AdmissionCheck)
		want string
	}{
		{"defaults", func(*AdmissionCheck) {}, ""},
		{"off ignores the rest", func(a *AdmissionCheck) { a.Enabled, a.Timeout = false, 0 }, ""},
		{"two dry-runs exceed the webhook timeout", func(a *AdmissionCheck) { a.Timeout = 2500 * time.Millisecond }, "injection.admission_check.timeout"},
		{"three dry-runs with TLS capture exceed it", func(a *AdmissionCheck) { a.Timeout = 1700 * time.Millisecond }, "allow_tls_capture adds a dry-run"},
		{"no timeout", func(a *AdmissionCheck) { a.Timeout = 0 }, "injection.admission_check.timeout"},
		{"negative ttl", func(a *AdmissionCheck) { a.CacheTTL = -time.Second }, "injection.admission_check.cache_ttl"},
		{"no cache room", func(a *AdmissionCheck) { a.CacheSize = 0 }, "injection.admission_check.cache_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultWebhook()
			tc.set(&cfg.Injection.AdmissionCheck)
			err := cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestAdmissionCheckLoads(t *testing.T) {
	cfg, err := LoadWebhook(Source{Env: []string{"PODTAP_INJECTION_ADMISSION_CHECK_TIMEOUT=800ms", "PODTAP_INJECTION_ADMISSION_CHECK_ENABLED=false"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Injection.AdmissionCheck; got.Timeout != 800*time.Millisecond || got.Enabled {
		t.Fatalf("loaded %+v", got)
	}
}

func TestRunAsUserMustBeRoot(t *testing.T) {
	cfg := DefaultWebhook()
	cfg.Sidecar.RunAsUser = 65532
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "sidecar.run_as_user: 65532") || !strings.Contains(err.Error(), "file capabilities") {
		t.Fatalf("Validate: %v, want run_as_user refused with the reason", err)
	}
}

func TestImagePullSecretsValidate(t *testing.T) {
	cfg := DefaultWebhook()
	cfg.Sidecar.ImagePullSecrets = []string{"registry-podtap", "Not_A_Name"}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), `sidecar.image_pull_secrets: "Not_A_Name"`) || strings.Contains(err.Error(), "registry-podtap") {
		t.Fatalf("Validate: %v, want only Not_A_Name refused", err)
	}
}
