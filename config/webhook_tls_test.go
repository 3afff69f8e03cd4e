package config

import (
	"strings"
	"testing"
	"time"
)

func TestAllowTLSCaptureValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		allow  bool
		tls    string
		dryRun time.Duration
		want   string
	}{
		{"default allows", true, "off", 0, ""},
		{"forbidden with tls off", false, "off", 0, ""},
		{"forbidden with tls on everywhere", false, "openssl", 0, "sidecar.settings.capture.tls"},
		{"forbidden leaves two dry-runs", false, "off", 2 * time.Second, ""},
		{"allowed needs room for three", true, "off", 2 * time.Second, "injection.admission_check.timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultWebhook()
			cfg.Injection.AllowTLSCapture = tc.allow
			cfg.Sidecar.Settings.Capture.TLS = tc.tls
			if tc.dryRun != 0 {
				cfg.Injection.AdmissionCheck.Timeout = tc.dryRun
			}
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

func TestAllowTLSCaptureLoads(t *testing.T) {
	cfg, err := LoadWebhook(Source{Env: []string{"PODTAP_INJECTION_ALLOW_TLS_CAPTURE=false"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Injection.AllowTLSCapture {
		t.Fatal("PODTAP_INJECTION_ALLOW_TLS_CAPTURE=false did not forbid TLS capture")
	}
}
