package webhook_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/webhook"
)

// deniedTLSCaps are what the test's policy refuses, as a Kyverno or
// Gatekeeper policy against eBPF in pods would; it allows NET_RAW.
var deniedTLSCaps = []string{"BPF", "PERFMON"}

// TestEnvtestTLS runs podtap.io/tls against a real API server: a privileged
// namespace gets TLS capture, a namespace whose policy refuses its
// capabilities gets the plain sidecar with the reason, and a webhook that
// forbids TLS capture ignores the annotation.
func TestEnvtestTLS(t *testing.T) {
	testenv.RequireEnvtest(t)
	env := &envtest.Environment{}
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
	stop := s.run(cfg)
	s.waitServing(cfg)

	t.Run("privileged namespace gets TLS capture", s.testTLSCapture)
	t.Run("policy denying BPF and PERFMON falls back to NET_RAW", s.testTLSPolicyFallback)

	// The same webhook, restarted with TLS capture forbidden.
	stop()
	forbidden := cfg
	forbidden.Injection.AllowTLSCapture = false
	s.run(forbidden)
	s.waitServing(forbidden)
	t.Run("forbidden by configuration ignores the annotation", s.testTLSForbidden)
}

var tlsOn = withAnnotations(map[string]string{config.AnnotationTLS: "on"})

func (s *suite) testTLSCapture(t *testing.T) {
	ns := s.createNamespace("tls-open", privileged, nil)
	rs := s.createReplicaSet(ns, "web-5d6c7b8a9")
	pod := replicaPod(ns, rs.Name, rs, tlsOn)
	s.create(pod)
	c := podtapContainer(t, pod)
	if pod.Spec.ShareProcessNamespace == nil || !*pod.Spec.ShareProcessNamespace {
		t.Fatal("the stored pod does not share its PID namespace")
	}
	want := append([]string{"NET_RAW"}, config.TLSCaptureCapabilities...)
	if got := capabilities(c); !slices.Equal(got, want) {
		t.Fatalf("sidecar capabilities %v, want %v", got, want)
	}
	if sc := loadSidecar(t, pod, c); sc.Capture.TLS != strings.Join(config.TLSLibraries, ",") {
		t.Fatalf("the sidecar loads capture.tls %q", sc.Capture.TLS)
	}
	if st := status(t, pod); st.TLS != strings.Join(config.TLSLibraries, ",") || st.TLSOff != nil {
		t.Fatalf("status %+v", st)
	}
	s.waitEvent(t, ns, rs.Name, webhook.EventInjected, "TLS capture of openssl")
}

func (s *suite) testTLSPolicyFallback(t *testing.T) {
	ctx := context.Background()
	for _, c := range deniedTLSCaps {
		if !slices.Contains(config.TLSCaptureCapabilities, c) {
			t.Fatalf("TLS capture no longer needs %s; the policy here must refuse one it needs", c)
		}
	}
	ns := s.createNamespace("tls-policed", withLabel(privileged, "policy", "no-ebpf"), nil)
	s.createCapabilityPolicy(t, "no-ebpf", deniedTLSCaps, "the BPF and PERFMON capabilities are not allowed")
	eventually(t, time.Minute, func() error {
		probe := newPod(ns, "", withLabels(map[string]string{config.LabelInject: "disabled"}), withCaps("BPF"))
		probe.GenerateName = "bpf-"
		err := s.c.Create(ctx, probe)
		if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
			return nil
		}
		if err == nil {
			_ = s.c.Delete(ctx, probe)
		}
		return fmt.Errorf("the policy does not deny BPF yet (create: %v)", err)
	})
	fallbacks := testutil.ToFloat64(webhook.Pods.WithLabelValues(webhook.ResultInjected, webhook.TLSOffAdmissionRejected))
	checks := testutil.ToFloat64(webhook.AdmissionChecks.WithLabelValues(webhook.CheckTLSRejected, "false"))

	rs := s.createReplicaSet(ns, "api-8e7d6c5b4")
	pod := replicaPod(ns, rs.Name, rs, tlsOn)
	s.create(pod)
	c := podtapContainer(t, pod)
	if got := capabilities(c); !slices.Equal(got, []string{"NET_RAW"}) {
		t.Fatalf("sidecar capabilities %v, want NET_RAW only", got)
	}
	if pod.Spec.ShareProcessNamespace != nil {
		t.Fatal("a sidecar without TLS capture shares the PID namespace")
	}
	if sc := loadSidecar(t, pod, c); sc.Capture.TLS != "off" {
		t.Fatalf("the sidecar loads capture.tls %q, want off", sc.Capture.TLS)
	}
	st := status(t, pod)
	if st.TLS != "" || st.TLSOff == nil || st.TLSOff.Reason != webhook.TLSOffAdmissionRejected ||
		!strings.Contains(st.TLSOff.Detail, "the BPF and PERFMON capabilities are not allowed") {
		t.Fatalf("status %+v, want tlsOff naming the policy's message", st)
	}
	s.waitEvent(t, ns, rs.Name, webhook.EventInjected, "without TLS capture: tls_admission_rejected")
	for _, e := range s.events(t, ns, rs.Name) {
		if e.Reason == webhook.EventInjected && e.Type != corev1.EventTypeWarning {
			t.Fatalf("the Injected Event of a fallback is %s, want Warning", e.Type)
		}
	}
	if got := testutil.ToFloat64(webhook.Pods.WithLabelValues(webhook.ResultInjected, webhook.TLSOffAdmissionRejected)); got != fallbacks+1 {
		t.Fatalf("tls_admission_rejected injections %v -> %v, want +1", fallbacks, got)
	}
	if got := testutil.ToFloat64(webhook.AdmissionChecks.WithLabelValues(webhook.CheckTLSRejected, "false")); got != checks+1 {
		t.Fatalf("tls_rejected checks %v -> %v, want +1", checks, got)
	}
	// The ReplicaSet's next pod takes the cached verdict, with its reason.
	next := replicaPod(ns, rs.Name, rs, tlsOn)
	s.create(next)
	if got := capabilities(podtapContainer(t, next)); !slices.Equal(got, []string{"NET_RAW"}) {
		t.Fatalf("the next pod's capabilities %v, want NET_RAW only", got)
	}
	if st := status(t, next); st.TLSOff == nil || !strings.Contains(st.TLSOff.Detail, "not allowed") {
		t.Fatalf("the next pod's status %+v", st)
	}
}

func (s *suite) testTLSForbidden(t *testing.T) {
	ns := s.createNamespace("tls-forbidden", privileged, nil)
	rs := s.createReplicaSet(ns, "job-3c4d5e6f7")
	pod := replicaPod(ns, rs.Name, rs, tlsOn)
	s.create(pod)
	c := podtapContainer(t, pod)
	if got := capabilities(c); !slices.Equal(got, []string{"NET_RAW"}) || pod.Spec.ShareProcessNamespace != nil {
		t.Fatalf("capabilities %v, shareProcessNamespace %v: want NET_RAW only, unset", got, pod.Spec.ShareProcessNamespace)
	}
	if st := status(t, pod); st.TLSOff == nil || st.TLSOff.Reason != webhook.TLSOffForbidden {
		t.Fatalf("status %+v, want tlsOff tls_forbidden", st)
	}
	s.waitEvent(t, ns, rs.Name, webhook.EventInvalidAnnotation, "injection.allow_tls_capture is off")
	if !s.warnings.contains("injection.allow_tls_capture is off") {
		t.Fatalf("no admission warning names the setting: %q", s.warnings.all())
	}
}

// createCapabilityPolicy makes a ValidatingAdmissionPolicy, bound to the
// namespaces labelled policy=<name>, denying pods any of whose containers
// adds one of caps.
func (s *suite) createCapabilityPolicy(t *testing.T, name string, caps []string, message string) {
	t.Helper()
	quoted := make([]string, len(caps))
	for i, c := range caps {
		quoted[i] = "'" + c + "'"
	}
	none := `!c.?securityContext.?capabilities.?add.orValue([]).exists(a, a in [` + strings.Join(quoted, ", ") + `])`
	s.create(&admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
					},
				}},
			},
			Validations: []admissionregistrationv1.Validation{{
				Expression: "object.spec.containers.all(c, " + none + ") && object.spec.?initContainers.orValue([]).all(c, " + none + ")",
				Message:    message,
			}},
		},
	})
	s.create(&admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"policy": name}},
			},
		},
	})
}

func withCaps(caps ...corev1.Capability) podOption {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: caps}}
	}
}

func capabilities(c *corev1.Container) []string {
	if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil {
		return nil
	}
	var out []string
	for _, a := range c.SecurityContext.Capabilities.Add {
		out = append(out, string(a))
	}
	return out
}
