package tlscapture

import (
	"os"
	"testing"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/testenv"
)

// TestCryptoLibrary reads Debian's libcrypto builds: OpenSSL 3's
// (libssl-dev's libcrypto.so.3) and BoringSSL's (android-libboringssl),
// whose libssl.so.0 alone could not be told from OpenSSL's.
func TestCryptoLibrary(t *testing.T) {
	for path, want := range map[string]string{
		"/usr/lib/x86_64-linux-gnu/libcrypto.so.3":         config.TLSLibraryOpenSSL,
		"/usr/lib/x86_64-linux-gnu/android/libcrypto.so.0": config.TLSLibraryBoringSSL,
	} {
		if _, err := os.Stat(path); err != nil {
			if testenv.OnCI() {
				t.Errorf("%s is missing: .ci/run installs it", path)
			}
			t.Logf("NOT CHECKED: %s is missing (bash hack/deps.sh installs it)", path)
			continue
		}
		cache := map[fileID]string{}
		if got := cryptoLibrary(path, cache); got != want {
			t.Errorf("cryptoLibrary(%s) = %q, want %q", path, got, want)
		}
		if len(cache) != 1 {
			t.Errorf("%s: %d files cached, want 1", path, len(cache))
		}
	}
}
