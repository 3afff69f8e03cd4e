package config

import (
	"strings"
	"testing"
)

func TestTunnelValidation(t *testing.T) {
	for _, tc := range []struct {
		name, key, value, wantErr string
	}{
		{"tunnel mode needs a target", "mode", "tunnel", "tunnel.target: empty"},
		{"unknown mode", "mode", "mirror", `mode: "mirror" is not accepted`},
		{"vni over 24 bits", "tunnel.vni", "16777216", "tunnel.vni: 16777216"},
		{"target without port", "tunnel.target", "receiver", "tunnel.target:"},
		{"segments too small", "tunnel.segment_bytes", "500", "tunnel.segment_bytes: 500"},
		{"a target is accepted", "tunnel.target", "podtap-receiver.podtap-system.svc:4789", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ApplySetting(DefaultSidecar(), tc.key, tc.value)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

func TestWebhookFillsTheReceiverTarget(t *testing.T) {
	cfg, err := LoadWebhook(Source{Env: []string{"PODTAP_NAMESPACE=tap", "PODTAP_RECEIVER_SERVICE=rx"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Sidecar.Settings.Tunnel.Target; got != "rx.tap.svc:4789" {
		t.Errorf("tunnel target %q, want rx.tap.svc:4789", got)
	}
	tunnel, err := ApplySetting(cfg.Sidecar.Settings, "mode", ModeTunnel)
	if err != nil || tunnel.Mode != ModeTunnel {
		t.Errorf("podtap.io/mode: tunnel over the webhook's settings: %v", err)
	}
}
