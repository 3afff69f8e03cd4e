package sidecar_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/netns"
	"github.com/podtap/podtap/internal/testenv"
)

// TestTLSLibraryBuilds runs testdata/sslserver, an HTTP/1.1 server over
// TLS and plaintext calling SSL_read and SSL_write, built against the TLS
// libraries Debian has besides its libssl.so.3, beside the real sidecar
// with every library on: discovery finds each (by the executable's own
// symbol table when it is linked statically; BoringSSL's libssl.so by the
// BORINGSSL_* symbols of the libcrypto beside it), probes it under its
// name, and the pairs over TLS are those of the plaintext run of the same
// requests, marked with the library.
func TestTLSLibraryBuilds(t *testing.T) {
	bin := buildTLSSidecar(t)
	cases := []struct {
		name, library string
		build         func(t *testing.T) string
		// probed is the path the sidecar probes, from the server's PID.
		probed func(pid int) string
	}{
		{"static OpenSSL 3", config.TLSLibraryOpenSSL, buildStaticSSLServer,
			func(pid int) string { return fmt.Sprintf("/proc/%d/exe", pid) }},
		{"BoringSSL shared", config.TLSLibraryBoringSSL, buildBoringSSLServer,
			func(pid int) string { return fmt.Sprintf("/proc/%d/root%s/libssl.so.0", pid, boringSSLDir) }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			server := tc.build(t)
			pod := testenv.NewPod(t, "pttlr-", 220, uint8(3+i))
			pairs := runSSLServer(t, bin, server, pod, tc.library, tc.probed)
			t.Logf("pairs matched: %d over %s", pairs, tc.name)
		})
	}
}

// runSSLServer runs server in pod beside the sidecar, drives it over TLS
// and plaintext, checks that the sidecar probed probed(pid) as library
// and that the TLS pairs are the plaintext ones, and returns their count.
func runSSLServer(t *testing.T, bin, server string, pod *netns.Pod, library string, probed func(pid int) string) int {
	t.Helper()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=builds.internal", "-days", "1").CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	var stderr bytes.Buffer
	srv := pod.Command(server, cert, key, "8443", "8080")
	srv.Stderr = &stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	waitListening(t, net.JoinHostPort(pod.IP(), "8443"))
	caps := append([]string{"NET_RAW"}, config.TLSCaptureCapabilities...)
	sc := startCapsSidecar(t, bin, pod.Name, pod.IP(), "on", caps)

	var tlsURLs, plainURLs []string
	for n := range 3 {
		tlsURLs = append(tlsURLs, fmt.Sprintf("https://%s:8443/api/item?n=%d", pod.IP(), n))
		plainURLs = append(plainURLs, fmt.Sprintf("http://%s:8080/api/item?n=%d", pod.IP(), n))
	}
	curlApart(t, append([]string{"--http1.1"}, tlsURLs...)...)
	curlApart(t, append([]string{"--http1.1"}, plainURLs...)...)
	time.Sleep(2 * time.Second)
	recs, log := sc.stop(t)

	// ip netns exec execs the server: its PID is the command's.
	pid := srv.Process.Pid
	if want := fmt.Sprintf(`"msg":"tls capture probing","library":%q,"pid":%d,"path":%q`, library, pid, probed(pid)); !strings.Contains(log, want) {
		t.Errorf("log lacks %s:\n%s", want, log)
	}
	// The sidecar shares the host's PID namespace here: only this pod's
	// pairs count.
	var overTLS, plain []string
	for _, r := range recs {
		if r.Server.IP != pod.IP() {
			continue
		}
		s := fmt.Sprintf("%s?%s %d %s", r.Request.Path, r.Request.Query, r.Response.Status, r.Response.Body)
		switch {
		case r.TLS != nil && r.TLS.Library == library && r.Server.Port == 8443:
			overTLS = append(overTLS, s)
		case r.TLS == nil && r.Server.Port == 8080:
			plain = append(plain, s)
		default:
			t.Errorf("unexpected record %+v", r)
		}
	}
	sort.Strings(overTLS)
	sort.Strings(plain)
	if len(plain) != len(plainURLs) || !slices.Equal(overTLS, plain) {
		t.Errorf("pairs over TLS %v, want those of the plaintext run %v (%d)\nserver: %s\n%s", overTLS, plain, len(plainURLs), stderr.Bytes(), log)
	}
	return len(overTLS)
}

// boringSSLDir holds Debian's BoringSSL (android-libboringssl), beside
// its headers in /usr/include/android.
const boringSSLDir = "/usr/lib/x86_64-linux-gnu/android"

// buildStaticSSLServer compiles testdata/sslserver with OpenSSL linked
// statically, where the sidecar's uid can read it.
func buildStaticSSLServer(t *testing.T) string {
	t.Helper()
	requireFile(t, "/usr/include/openssl/ssl.h", "libssl-dev")
	// -static takes libssl.a and libcrypto.a; glibc's warnings about
	// getaddrinfo in static programs concern functions the server never calls.
	return buildSSLServer(t, []string{"-static"}, []string{"-lssl", "-lcrypto", "-pthread"})
}

// buildBoringSSLServer compiles testdata/sslserver against Debian's
// BoringSSL, linked dynamically (libssl.so.0, libcrypto.so.0).
func buildBoringSSLServer(t *testing.T) string {
	t.Helper()
	requireFile(t, "/usr/include/android/openssl/ssl.h", "android-libboringssl-dev")
	return buildSSLServer(t, []string{"-I/usr/include/android"}, []string{"-L" + boringSSLDir, "-Wl,-rpath," + boringSSLDir, "-lssl", "-lcrypto"})
}

// requireFile skips (fails on CI) without path, which Debian's pkg has.
func requireFile(t *testing.T, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if testenv.OnCI() {
			t.Fatalf("%s is missing: .ci/run installs %s", path, pkg)
		}
		t.Skipf("SKIPPED, NOT RUN: needs %s (bash hack/deps.sh installs %s)", path, pkg)
	}
}

// buildSSLServer compiles testdata/sslserver with cflags before the source
// and libs after it, where the sidecar's uid can read it.
func buildSSLServer(t *testing.T, cflags, libs []string) string {
	t.Helper()
	cc := ""
	for _, c := range []string{"cc", "gcc", "clang-14", "clang"} {
		if _, err := exec.LookPath(c); err == nil {
			cc = c
			break
		}
	}
	if cc == "" {
		testenv.RequireTool(t, "clang-14")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "sslserver")
	src, err := filepath.Abs(filepath.Join("testdata", "sslserver", "server.c"))
	if err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{"-O2", "-o", out}, cflags...), src)
	if b, err := exec.Command(cc, append(args, libs...)...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, b)
	}
	return out
}
