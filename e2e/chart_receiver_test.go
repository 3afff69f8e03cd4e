package e2e

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podtap/podtap/config"
)

// TestChartReceiver: receiver.enabled adds podtap-receiver behind the UDP
// Service that the webhook points tunnel-mode sidecars at, with a
// read-only ClusterRole, and nothing of it by default.
func TestChartReceiver(t *testing.T) {
	if n := len(renderChart(t).all("Service")); n != 1 {
		t.Errorf("by default %d Services, want the webhook's alone", n)
	}
	if _, err := runHelm(t, "template", releaseName, chartDir, "--namespace", releaseNamespace, "--set", "receiver.enabled=true"); err == nil || !strings.Contains(err.Error(), "kafka.brokers") {
		t.Errorf("receiver.enabled without kafka.brokers: %v, want an error naming kafka.brokers", err)
	}
	r := renderChart(t, "--set", "receiver.enabled=true", "--set", "kafka.brokers={kafka-0:9092,kafka-1:9092}")
	def := config.DefaultWebhook()
	name := def.Receiver.Service
	if got := r.webhookConfig(t).Receiver.Service; got != name {
		t.Errorf("webhook receiver.service %q, want %q", got, name)
	}

	var svc *corev1.Service
	for _, o := range r.all("Service") {
		if o.GetName() == name {
			svc = &corev1.Service{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, svc); err != nil {
				t.Fatal(err)
			}
		}
	}
	if svc == nil {
		t.Fatalf("no Service %q", name)
	}
	if p := svc.Spec.Ports; len(p) != 1 || p[0].Protocol != corev1.ProtocolUDP || p[0].Port != config.VXLANPort {
		t.Errorf("receiver Service ports %+v, want UDP %d alone", p, config.VXLANPort)
	}

	var dep *appsv1.Deployment
	for _, o := range r.all("Deployment") {
		if o.GetName() == name {
			dep = &appsv1.Deployment{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, dep); err != nil {
				t.Fatal(err)
			}
		}
	}
	if dep == nil {
		t.Fatalf("no Deployment %q", name)
	}
	for k, v := range svc.Spec.Selector {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, the receiver's pods are labelled %v", k, v, dep.Spec.Template.Labels)
		}
	}
	for _, o := range r.all("Service") {
		sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector")
		if o.GetName() != name && sel["app.kubernetes.io/component"] == dep.Spec.Template.Labels["app.kubernetes.io/component"] {
			t.Errorf("Service %s also selects the receiver's pods", o.GetName())
		}
	}
	spec := dep.Spec.Template.Spec
	c := spec.Containers[0]
	if !slices.Equal(c.Command, []string{"/podtap-receiver"}) {
		t.Errorf("command %v", c.Command)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	for k, want := range map[string]string{
		config.EnvName("capture.source"):     config.SourceVXLAN,
		config.EnvName("capture.vxlan.port"): strconv.Itoa(config.VXLANPort),
		config.EnvName("metrics.addr"):       config.DefaultSidecar().Metrics.Addr,
		config.EnvName("sink.type"):          "kafka",
		config.EnvName("kafka.brokers"):      "kafka-0:9092,kafka-1:9092",
		config.EnvName("kafka.topic"):        def.Sidecar.Settings.Kafka.Topic,
	} {
		if env[k] != want {
			t.Errorf("env %s=%q, want %q", k, env[k], want)
		}
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes: readiness %+v, liveness %+v", c.ReadinessProbe, c.LivenessProbe)
	}
	if c.Resources.Limits.Memory().IsZero() {
		t.Error("the receiver has no memory limit")
	}
	if spec.ServiceAccountName != name {
		t.Errorf("serviceAccountName %q, want %q", spec.ServiceAccountName, name)
	}

	var role *rbacv1.ClusterRole
	for _, o := range r.all("ClusterRole") {
		if o.GetName() == name {
			role = &rbacv1.ClusterRole{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, role); err != nil {
				t.Fatal(err)
			}
		}
	}
	if role == nil {
		t.Fatalf("no ClusterRole %q", name)
	}
	granted := map[string]bool{}
	for _, rule := range role.Rules {
		if !slices.Equal(rule.Verbs, []string{"get", "list", "watch"}) {
			t.Errorf("rule %+v grants more than get, list, watch", rule)
		}
		for _, res := range rule.Resources {
			granted[res] = true
		}
	}
	if len(granted) != 2 || !granted["pods"] || !granted["replicasets"] {
		t.Errorf("the receiver may read %v, want pods and replicasets", granted)
	}
}
