package config

import (
	"slices"
	"strings"
	"testing"
)

func TestParseTLS(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  string
	}{
		{"off", nil, ""},
		{"on", []string{"openssl", "boringssl", "go"}, ""},
		{"boringssl, OpenSSL,boringssl", []string{"openssl", "boringssl"}, ""},
		{"go, OpenSSL,go", []string{"openssl", "go"}, ""},
		{"", nil, `"" is not accepted`},
		{"openssl,", nil, "not accepted"},
		{"gnutls", nil, `"gnutls" is not accepted`},
	}
	for _, tc := range cases {
		got, err := ParseTLS(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseTLS(%q) error %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseTLS(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestTLSAnnotationSetsCaptureTLS(t *testing.T) {
	a, ok := LookupAnnotation(AnnotationPrefix + "tls")
	if !ok || a.Setting != "capture.tls" {
		t.Fatalf("podtap.io/tls = %+v, %v; want setting capture.tls", a, ok)
	}
	cfg, err := ApplySetting(DefaultSidecar(), a.Setting, "openssl,boringssl")
	if err != nil || cfg.Capture.TLS != "openssl,boringssl" {
		t.Fatalf("ApplySetting = %q, %v", cfg.Capture.TLS, err)
	}
	if _, err := ApplySetting(DefaultSidecar(), a.Setting, "rustls"); err == nil || !strings.Contains(err.Error(), "capture.tls") {
		t.Fatalf("ApplySetting(rustls) error %v, want one naming capture.tls", err)
	}
}
