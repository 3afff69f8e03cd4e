package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/podtap/podtap/internal/testenv"
)

// Paths from this package's directory, where `go test` runs it.
const (
	repoRoot = ".."
	chartDir = "../charts/podtap"
)

// testVersion is stamped into the binaries the tests build, as the images'
// VERSION build argument is.
const testVersion = "v0.0.0-e2e"

var helmPath = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("HELM"); p != "" {
		return p, nil
	}
	// hack/helm.sh returns at once when its cached build is there.
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("bash", filepath.Join(repoRoot, "hack", "helm.sh"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/helm.sh: %w\n%s", err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
})

// requireHelm returns helm: $HELM, or hack/helm.sh's build.
func requireHelm(t *testing.T) string {
	t.Helper()
	p, err := helmPath()
	if err != nil {
		if testenv.OnCI() {
			t.Fatalf("helm is required on CI: %v", err)
		}
		t.Skipf("SKIPPED, NOT RUN: helm unavailable: %v (CI=true turns this into a failure)", err)
	}
	return p
}

// runHelm runs helm and returns its stdout; err carries stderr.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(requireHelm(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// helm's own settings and caches must not leak in from the machine.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// ciValues are the chart's CI values files, by name (default, cert-manager...).
func ciValues(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range files {
		out[strings.TrimSuffix(filepath.Base(f), "-values.yaml")] = f
	}
	for _, want := range []string{"default", "cert-manager", "files", "kafka-sasl"} {
		if out[want] == "" {
			t.Fatalf("charts/podtap/ci/%s-values.yaml is missing", want)
		}
	}
	return out
}

// binaries are the images' binaries, built once per test run exactly as
// the Dockerfiles build them (hack/build.sh), plus the test application and
// the image writer.
type binaries struct {
	Sidecar, Webhook, TestApp, OCIImage string
}

var binDir string

var buildBinaries = sync.OnceValues(func() (binaries, error) {
	dir, err := os.MkdirTemp("", "podtap-e2e-bin-")
	if err != nil {
		return binaries{}, err
	}
	binDir = dir
	b := binaries{
		Sidecar:  filepath.Join(dir, "podtap-sidecar"),
		Webhook:  filepath.Join(dir, "podtap-webhook"),
		TestApp:  filepath.Join(dir, "testapp"),
		OCIImage: filepath.Join(dir, "ociimage"),
	}
	steps := []*exec.Cmd{
		exec.Command("bash", filepath.Join("hack", "build.sh"), "podtap-sidecar", testVersion, b.Sidecar),
		exec.Command("bash", filepath.Join("hack", "build.sh"), "podtap-webhook", testVersion, b.Webhook),
		exec.Command("go", "build", "-trimpath", "-o", b.TestApp, "./e2e/testapp"),
		exec.Command("go", "build", "-o", b.OCIImage, "./e2e/ociimage"),
	}
	for _, cmd := range steps {
		var out bytes.Buffer
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return b, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out.String())
		}
	}
	return b, nil
})

func requireBinaries(t *testing.T) binaries {
	t.Helper()
	b, err := buildBinaries()
	if err != nil {
		t.Fatalf("building the binaries: %v", err)
	}
	return b
}
