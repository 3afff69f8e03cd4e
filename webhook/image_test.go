package webhook

import "testing"

func TestPinnedImage(t *testing.T) {
	for _, tc := range []struct{ image, version, want string }{
		{"ghcr.io/podtap/podtap-sidecar", "v1.4.0", "ghcr.io/podtap/podtap-sidecar:v1.4.0"},
		{"localhost:5000/podtap-sidecar", "v1.4.0", "localhost:5000/podtap-sidecar:v1.4.0"},
		{"ghcr.io/podtap/podtap-sidecar:v1.3.9", "v1.4.0", "ghcr.io/podtap/podtap-sidecar:v1.3.9"},
		{"ghcr.io/podtap/podtap-sidecar@sha256:" + sixtyFourHex, "v1.4.0", "ghcr.io/podtap/podtap-sidecar@sha256:" + sixtyFourHex},
		{"ghcr.io/podtap/podtap-sidecar", "dev", "ghcr.io/podtap/podtap-sidecar"},
	} {
		if got := pinnedImage(tc.image, tc.version); got != tc.want {
			t.Errorf("pinnedImage(%q, %q) = %q, want %q", tc.image, tc.version, got, tc.want)
		}
	}
}

const sixtyFourHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
