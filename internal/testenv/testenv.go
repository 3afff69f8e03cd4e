// Package testenv decides what a test may assume about the machine: root
// for network namespaces and packet capture, and tools such as kcat. Off
// CI a test without them skips with a loud reason; on CI (CI set) it
// fails, since CI must run every test. It also makes the network
// namespaces that live tests run in, so that every package names,
// addresses and removes them the same way.
package testenv

import (
	"errors"
	"os"
	"os/exec"
	"testing"

	"github.com/podtap/podtap/internal/netns"
)

// OnCI reports whether the suite runs in CI, where nothing may be skipped.
func OnCI() bool { return os.Getenv("CI") != "" && os.Getenv("CI") != "false" }

func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if OnCI() {
		t.Fatalf("%s is required on CI: %v", what, err)
	}
	t.Skipf("SKIPPED, NOT RUN: %s unavailable: %v (CI=true turns this into a failure)", what, err)
}

// RequireNetns needs root and iproute2 for network namespaces.
func RequireNetns(t testing.TB) {
	t.Helper()
	if err := netns.Check(); err != nil {
		unavailable(t, "network namespaces", err)
	}
}

// RequireTool needs a command on PATH.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		unavailable(t, name, err)
	}
	return path
}

// RequireEnvtest needs the kube-apiserver and etcd that
// hack/envtest-assets.sh builds, named by KUBEBUILDER_ASSETS.
func RequireEnvtest(t testing.TB) {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		unavailable(t, "envtest (a real kube-apiserver and etcd)",
			errors.New(`KUBEBUILDER_ASSETS is unset; run: export KUBEBUILDER_ASSETS="$(hack/envtest-assets.sh)"`))
	}
}
