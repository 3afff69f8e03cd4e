package webhook

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	k8sversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/utils/ptr"

	"github.com/podtap/podtap/config"
)

func TestSupportsNativeSidecars(t *testing.T) {
	for _, tc := range []struct {
		info k8sversion.Info
		want bool
	}{
		{k8sversion.Info{GitVersion: "v1.37.2"}, true},
		{k8sversion.Info{GitVersion: "v1.29.0"}, true},
		{k8sversion.Info{GitVersion: "v1.28.15"}, false},
		{k8sversion.Info{GitVersion: "v1.30.4-gke.1348000"}, true},
		{k8sversion.Info{GitVersion: "v1.27.9+k3s1"}, false},
		{k8sversion.Info{GitVersion: "weird", Major: "1", Minor: "29+"}, true},
		{k8sversion.Info{GitVersion: "weird", Major: "1", Minor: "28+"}, false},
		{k8sversion.Info{GitVersion: "v2.0.0"}, true},
	} {
		got, err := SupportsNativeSidecars(&tc.info)
		if err != nil || got != tc.want {
			t.Errorf("%+v: %v, %v; want %v", tc.info, got, err, tc.want)
		}
	}
	if _, err := SupportsNativeSidecars(&k8sversion.Info{GitVersion: "x", Major: "?", Minor: "?"}); err == nil {
		t.Error("an unparsable version was accepted")
	}
}

type fakeVersions struct {
	info *k8sversion.Info
	err  error
}

func (f *fakeVersions) ServerVersion() (*k8sversion.Info, error) { return f.info, f.err }

func TestVersionWatcherFollowsUpgradesAndKeepsTheLastAnswer(t *testing.T) {
	fake := &fakeVersions{err: errors.New("unreachable")}
	w := &VersionWatcher{Discovery: fake, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := w.Refresh(); err == nil || w.Cluster().NativeSidecars {
		t.Fatal("an unreachable API server must mean regular containers")
	}
	fake.info, fake.err = &k8sversion.Info{GitVersion: "v1.28.3"}, nil
	if err := w.Refresh(); err != nil || w.Cluster().NativeSidecars {
		t.Fatalf("1.28: %v %v", err, w.Cluster())
	}
	fake.info = &k8sversion.Info{GitVersion: "v1.29.1"}
	if err := w.Refresh(); err != nil || !w.Cluster().NativeSidecars || testutil.ToFloat64(NativeSidecars) != 1 {
		t.Fatalf("after the upgrade to 1.29: %v %v", err, w.Cluster())
	}
	fake.err = errors.New("blip")
	if err := w.Refresh(); err == nil || !w.Cluster().NativeSidecars {
		t.Fatal("a failed refresh must keep the last answer")
	}
}

func TestRestartPolicyDroppedForcesRegular(t *testing.T) {
	sent := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: ContainerName, RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}}}
	stored := sent.DeepCopy()
	if lostRestartPolicy(sent, stored) {
		t.Fatal("a kept restartPolicy reported lost")
	}
	stored.Spec.InitContainers[0].RestartPolicy = nil
	if !lostRestartPolicy(sent, stored) {
		t.Fatal("a dropped restartPolicy not noticed")
	}
	cfg := config.DefaultWebhook()
	cfg.Injection.NativeSidecar = config.NativeAlways
	if native, _ := decideNative(&cfg, clusterFor(Cluster{NativeSidecars: true, RestartPolicyDropped: true}, sent), PodSettings{}, nil); native {
		t.Fatal("native_sidecar true forced a native sidecar the API server strips")
	}
}
