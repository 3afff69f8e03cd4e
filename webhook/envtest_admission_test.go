package webhook_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/webhook"
)

// podSecurityDefault makes baseline the cluster-wide Pod Security level, as
// Talos does, in the API server's AdmissionConfiguration: no namespace
// label says so.
const podSecurityDefault = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      enforce: baseline
      enforce-version: latest
`

// TestEnvtestAdmission runs the webhook against an API server where later
// admission steps reject what podtap adds: the pods must be created
// without the sidecar, and say why.
func TestEnvtestAdmission(t *testing.T) {
	testenv.RequireEnvtest(t)
	admissionConfig := filepath.Join(t.TempDir(), "admission.yaml")
	if err := os.WriteFile(admissionConfig, []byte(podSecurityDefault), 0o600); err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{}
	env.ControlPlane.GetAPIServer().Configure().Set("admission-control-config-file", admissionConfig)
	restCfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	s := newSuite(t, restCfg)
	s.createNamespace("podtap-system", nil, nil)
	cfg := s.webhookConfig(config.TLSAuto, "podtap-webhook-tls")
	s.create(webhook.Registration(&cfg, nil))
	s.run(cfg)
	s.waitServing(cfg)

	t.Run("cluster default baseline skips and caches", s.testClusterBaseline)
	t.Run("ValidatingAdmissionPolicy denying NET_RAW skips", s.testPolicyDeniesNetRaw)
	t.Run("quota on limits.cpu skips", s.testQuotaCPULimit)
	t.Run("rejected either way is left to fail", s.testRejectedAnyway)
	t.Run("admitted pod injected and its verdict cached", s.testCheckPassed)
	t.Run("a skipped pod's copied status is judged afresh", s.testCopiedSkipStatus)
	t.Run("old kubelets on the nodes mean a regular container", s.testOldKubelets)
}

// privileged opts a namespace out of the cluster's baseline default, so
// that only the policy under test can reject NET_RAW.
var privileged = map[string]string{
	config.LabelInject:                   "enabled",
	"pod-security.kubernetes.io/enforce": "privileged",
}

func (s *suite) testClusterBaseline(t *testing.T) {
	ns := s.createNamespace("talos", map[string]string{config.LabelInject: "enabled"}, nil)
	// The reason is real: this API server rejects NET_RAW here, though the
	// namespace carries no Pod Security label.
	raw := newPod(ns, "net-raw", withLabels(map[string]string{config.LabelInject: "disabled"}), withNetRaw)
	if err := s.c.Create(context.Background(), raw); !apierrors.IsForbidden(err) {
		t.Fatalf("a NET_RAW pod under the cluster's baseline default: got %v, want Forbidden", err)
	}
	rs := s.createReplicaSet(ns, "api-6d9f8b7c5")
	skipped := testutil.ToFloat64(webhook.Pods.WithLabelValues(webhook.ResultSkipped, webhook.SkipAdmissionRejected))
	cached := testutil.ToFloat64(webhook.AdmissionChecks.WithLabelValues(webhook.CheckRejected, "true"))

	for i := range 3 {
		pod := replicaPod(ns, rs.Name, rs)
		s.create(pod)
		assertSkippedByAdmission(t, pod, "PodSecurity")
		if i == 0 {
			s.waitEvent(t, ns, rs.Name, webhook.EventSkipped, "admission_rejected")
		}
	}
	if got := testutil.ToFloat64(webhook.Pods.WithLabelValues(webhook.ResultSkipped, webhook.SkipAdmissionRejected)); got != skipped+3 {
		t.Fatalf("admission_rejected skips counted %v -> %v, want +3", skipped, got)
	}
	if got := testutil.ToFloat64(webhook.AdmissionChecks.WithLabelValues(webhook.CheckRejected, "true")); got != cached+2 {
		t.Fatalf("cached rejections %v -> %v, want +2: the ReplicaSet's later pods reuse the first verdict", cached, got)
	}
	for _, e := range s.events(t, ns, rs.Name) {
		if e.Reason == webhook.EventSkipped && e.Type != corev1.EventTypeWarning {
			t.Fatalf("the skip Event is %s, want Warning", e.Type)
		}
	}
}

func (s *suite) testPolicyDeniesNetRaw(t *testing.T) {
	ctx := context.Background()
	ns := s.createNamespace("policed", withLabel(privileged, "policy", "no-net-raw"), nil)
	s.createCapabilityPolicy(t, "no-net-raw", []string{"NET_RAW"}, "the NET_RAW capability is not allowed")
	// A policy takes effect once the API server has compiled it.
	eventually(t, time.Minute, func() error {
		raw := newPod(ns, "", withLabels(map[string]string{config.LabelInject: "disabled"}), withNetRaw)
		raw.GenerateName = "net-raw-"
		err := s.c.Create(ctx, raw)
		if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
			return nil
		}
		if err == nil {
			_ = s.c.Delete(ctx, raw)
		}
		return fmt.Errorf("the policy does not deny NET_RAW yet (create: %v)", err)
	})
	rs := s.createReplicaSet(ns, "web-7b8c9d6f4")
	pod := replicaPod(ns, rs.Name, rs)
	s.create(pod)
	assertSkippedByAdmission(t, pod, "the NET_RAW capability is not allowed")
	s.waitEvent(t, ns, rs.Name, webhook.EventSkipped, "the NET_RAW capability is not allowed")
	// With TLS capture asked for, the plain sidecar is tried next and
	// rejected too: the pod is skipped, naming what rejects the plain one.
	tlsRS := s.createReplicaSet(ns, "tls-6a5b4c3d2")
	tlsPod := replicaPod(ns, tlsRS.Name, tlsRS, tlsOn)
	s.create(tlsPod)
	assertSkippedByAdmission(t, tlsPod, "the NET_RAW capability is not allowed")
}

func (s *suite) testQuotaCPULimit(t *testing.T) {
	ns := s.createNamespace("quota", privileged, nil)
	s.createCPUQuota(t, ns)
	rs := s.createReplicaSet(ns, "batch-5f4e3d2c1")
	pod := replicaPod(ns, rs.Name, rs, withCPULimit)
	s.create(pod)
	assertSkippedByAdmission(t, pod, "limits.cpu")
	s.waitEvent(t, ns, rs.Name, webhook.EventSkipped, "limits.cpu")
}

// testRejectedAnyway: a pod the quota rejects without podtap too is
// injected as before, and the user sees the API server's own reason.
func (s *suite) testRejectedAnyway(t *testing.T) {
	notOurs := testutil.ToFloat64(webhook.AdmissionChecks.WithLabelValues(webhook.CheckNotOurs, "false"))
	pod := newPod("quota", "no-limit")
	err := s.c.Create(context.Background(), pod)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "limits.cpu") {
		t.Fatalf("a pod without a CPU limit under the quota: got %v, want Forbidden naming limits.cpu", err)
	}
	if got := testutil.ToFloat64(webhook.AdmissionChecks.WithLabelValues(webhook.CheckNotOurs, "false")); got != notOurs+1 {
		t.Fatalf("rejected_without_podtap checks %v -> %v, want +1", notOurs, got)
	}
}

func (s *suite) testCheckPassed(t *testing.T) {
	ns := s.createNamespace("open", privileged, nil)
	rs := s.createReplicaSet(ns, "shop-4c3b2a1f9")
	passed := testutil.ToFloat64(webhook.AdmissionChecks.WithLabelValues(webhook.CheckPassed, "false"))
	cached := testutil.ToFloat64(webhook.AdmissionChecks.WithLabelValues(webhook.CheckPassed, "true"))
	for range 2 {
		pod := replicaPod(ns, rs.Name, rs)
		s.create(pod)
		podtapContainer(t, pod)
		if st := status(t, pod); st.Skipped != "" || st.Container != webhook.ContainerName {
			t.Fatalf("status %+v", st)
		}
	}
	if got := testutil.ToFloat64(webhook.AdmissionChecks.WithLabelValues(webhook.CheckPassed, "false")); got != passed+1 {
		t.Fatalf("passed dry-runs %v -> %v, want +1", passed, got)
	}
	if got := testutil.ToFloat64(webhook.AdmissionChecks.WithLabelValues(webhook.CheckPassed, "true")); got != cached+1 {
		t.Fatalf("cached passes %v -> %v, want +1", cached, got)
	}
}

// testCopiedSkipStatus creates a pod from the YAML of a skipped one, its
// podtap.io/status included, in a namespace where nothing rejects the
// sidecar: the API server's managedFields show the status came with the
// request, so the webhook does not repeat the old skip, injects the pod
// and reports it.
func (s *suite) testCopiedSkipStatus(t *testing.T) {
	ns := s.createNamespace("copied", privileged, nil)
	copied := `{"version":"` + envtestVersion + `","native":false,"skipped":"the API server would reject the pod with the podtap sidecar, so it is created without it: violates PodSecurity"}`
	pod := newPod(ns, "copy-of-skipped", withAnnotations(map[string]string{config.AnnotationStatus: copied}))
	s.create(pod)
	podtapContainer(t, pod)
	if st := status(t, pod); st.Skipped != "" || st.Container != webhook.ContainerName {
		t.Fatalf("status %+v: the copied skip was trusted", st)
	}
	s.waitEvent(t, ns, pod.Name, webhook.EventInjected, "Injected podtap")
}

// createCPUQuota sets a quota on limits.cpu. No controller-manager runs
// here, so the test writes the usage the quota controller would.
func (s *suite) createCPUQuota(t *testing.T, ns string) {
	t.Helper()
	hard := corev1.ResourceList{corev1.ResourceLimitsCPU: resource.MustParse("4")}
	q := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cpu"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
	}
	s.create(q)
	q.Status = corev1.ResourceQuotaStatus{Hard: hard, Used: corev1.ResourceList{corev1.ResourceLimitsCPU: resource.MustParse("0")}}
	if err := s.c.Status().Update(context.Background(), q); err != nil {
		t.Fatal(err)
	}
}

// replicaPod is a pod as the ReplicaSet controller creates it.
func replicaPod(ns, hash string, rs *appsv1.ReplicaSet, opts ...podOption) *corev1.Pod {
	return newPod(ns, "", append([]podOption{
		withOwner(rs),
		withLabels(map[string]string{"pod-template-hash": hash[strings.LastIndex(hash, "-")+1:]}),
	}, opts...)...)
}

func withNetRaw(p *corev1.Pod) {
	p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
		Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_RAW"}},
	}
}

func withCPULimit(p *corev1.Pod) {
	p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}
}

func withLabel(base map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for bk, bv := range base {
		out[bk] = bv
	}
	return out
}

func assertSkippedByAdmission(t *testing.T, pod *corev1.Pod, reason string) {
	t.Helper()
	if n := count(pod, webhook.ContainerName); n != 0 {
		t.Fatalf("pod %s/%s was injected though the API server rejects the sidecar", pod.Namespace, pod.Name)
	}
	st := status(t, pod)
	if st.Container != "" || !strings.Contains(st.Skipped, reason) {
		t.Fatalf("status %+v, want a skip naming %q", st, reason)
	}
	if pod.Labels[config.LabelInjected] != "" {
		t.Fatal("a skipped pod is labelled injected")
	}
}

// testOldKubelets registers nodes as kubelets do, one of them 1.28: the
// API server is 1.37, but a native sidecar would keep pods scheduled there
// in Init. A pod pinned to the new pool still gets one.
func (s *suite) testOldKubelets(t *testing.T) {
	ctx := context.Background()
	ns := s.createNamespace("nodes", privileged, nil)
	for _, n := range []struct{ name, pool, version string }{{"node-new", "new", "v1.31.4"}, {"node-old", "old", "v1.28.9"}} {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: map[string]string{"pool": n.pool}}}
		s.create(node)
		node.Status.NodeInfo.KubeletVersion = n.version
		if err := s.c.Status().Update(ctx, node); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.c.Delete(ctx, node) })
	}
	var pod *corev1.Pod
	eventually(t, 30*time.Second, func() error {
		pod = newPod(ns, "")
		pod.GenerateName = "anywhere-"
		s.create(pod)
		if c := podtapContainer(t, pod); isInit(pod, c) {
			return fmt.Errorf("podtap is a native sidecar with a 1.28 kubelet among the nodes")
		}
		return nil
	})
	if st := status(t, pod); st.Native {
		t.Fatalf("status %+v", st)
	}
	pinned := newPod(ns, "pinned-new")
	pinned.Spec.NodeSelector = map[string]string{"pool": "new"}
	s.create(pinned)
	if c := podtapContainer(t, pinned); !isInit(pinned, c) || c.RestartPolicy == nil {
		t.Fatal("a pod pinned to 1.31 kubelets did not get a native sidecar")
	}
}
