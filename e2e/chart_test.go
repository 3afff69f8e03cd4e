package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/webhook"
)

// The chart checks: helm lint and helm template with every CI values file,
// and what the rendered objects must say. The schema and the API server's
// verdicts are in schema_test.go and dryrun_test.go.

func TestChartLint(t *testing.T) {
	for name, file := range ciValues(t) {
		t.Run(name, func(t *testing.T) {
			out, err := runHelm(t, "lint", chartDir, "--strict", "--namespace", releaseNamespace, "-f", file)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint:\n%s", out)
			}
		})
	}
}

func TestChartTemplate(t *testing.T) {
	for name, file := range ciValues(t) {
		t.Run(name, func(t *testing.T) {
			r := renderChart(t, "-f", file)
			cfg := r.webhookConfig(t)
			checkRegistration(t, r, cfg)
			checkDeployment(t, r, cfg)
			checkRBAC(t, r, cfg)
			checkNamespaced(t, r)
			pdbs := r.all("PodDisruptionBudget")
			var d appsv1.Deployment
			r.one(t, "Deployment", &d)
			if replicas := *d.Spec.Replicas; (replicas > 1) != (len(pdbs) == 1) {
				t.Errorf("%d replicas and %d PodDisruptionBudgets", replicas, len(pdbs))
			}
			certs := r.all("Certificate")
			if (cfg.TLS.Mode == config.TLSCertManager) != (len(certs) == 1) {
				t.Errorf("tls.mode %s and %d cert-manager Certificates", cfg.TLS.Mode, len(certs))
			}
		})
	}
}

// checkRegistration compares the rendered MutatingWebhookConfiguration
// with the one podtap-webhook builds from the chart's own configuration:
// same rules, selectors and policies.
func checkRegistration(t *testing.T, r rendered, cfg config.Webhook) {
	t.Helper()
	var got admissionregistrationv1.MutatingWebhookConfiguration
	r.one(t, "MutatingWebhookConfiguration", &got)
	if len(got.Webhooks) != 2 {
		t.Fatalf("%d webhooks rendered, want the namespace one and the single-pod one", len(got.Webhooks))
	}
	ca := got.Webhooks[0].ClientConfig.CABundle
	if cfg.TLS.Mode != config.TLSFiles && len(ca) != 0 {
		// helm upgrade would put the template's caBundle back over the
		// one podtap-webhook or cert-manager keeps.
		t.Errorf("tls.mode %s templates a caBundle", cfg.TLS.Mode)
	}
	if cfg.TLS.Mode == config.TLSFiles && !strings.Contains(string(ca), "BEGIN CERTIFICATE") {
		t.Errorf("tls.mode files: the caBundle is not a PEM certificate: %q", ca)
	}
	want := webhook.Registration(&cfg, ca)
	if got.Name != want.Name {
		t.Errorf("registration %q, podtap-webhook patches %q", got.Name, want.Name)
	}
	if !equality.Semantic.DeepEqual(got.Webhooks, want.Webhooks) || !equality.Semantic.DeepEqual(got.Annotations, want.Annotations) {
		t.Errorf("the chart's registration differs from webhook.Registration:\n%s", diffYAML(t,
			map[string]any{"annotations": want.Annotations, "webhooks": want.Webhooks},
			map[string]any{"annotations": got.Annotations, "webhooks": got.Webhooks}))
	}
	for k, v := range want.Labels {
		if got.Labels[k] != v {
			t.Errorf("label %s=%q, want %q", k, got.Labels[k], v)
		}
	}
	for _, wh := range got.Webhooks {
		if *wh.FailurePolicy != admissionregistrationv1.Ignore || *wh.TimeoutSeconds != 5 ||
			*wh.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy ||
			*wh.SideEffects != admissionregistrationv1.SideEffectClassNoneOnDryRun {
			t.Errorf("%s policies: failure %s, timeout %d, reinvocation %s, side effects %s", wh.Name,
				*wh.FailurePolicy, *wh.TimeoutSeconds, *wh.ReinvocationPolicy, *wh.SideEffects)
		}
		excluded := wh.NamespaceSelector.MatchExpressions[0].Values
		for _, ns := range []string{"kube-system", "kube-public", "kube-node-lease", releaseNamespace} {
			if !slices.Contains(excluded, ns) {
				t.Errorf("%s: namespace %s is not excluded: %v", wh.Name, ns, excluded)
			}
		}
	}
}

// checkDeployment asserts the webhook's Deployment: its pods never injected,
// non-root on a read-only root, probes and resources, the configuration
// checksum, and the certificate directory the mode needs.
func checkDeployment(t *testing.T, r rendered, cfg config.Webhook) {
	t.Helper()
	var d appsv1.Deployment
	r.one(t, "Deployment", &d)
	pod := d.Spec.Template
	if pod.Labels[config.LabelInject] != "disabled" {
		t.Errorf("the webhook's pods lack %s=disabled, which the registration's objectSelector skips", config.LabelInject)
	}
	if pod.Annotations["checksum/config"] == "" {
		t.Error("no checksum/config annotation on the pod template")
	}
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod security context %+v: want non-root", psc)
	}
	if d.Spec.Template.Spec.Affinity == nil || d.Spec.Template.Spec.Affinity.PodAntiAffinity == nil {
		t.Error("no pod anti-affinity spreading the replicas")
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil ||
		*sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context %+v", sc)
	}
	if c.ReadinessProbe == nil || c.LivenessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("the webhook lacks its readiness or liveness probe")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v", c.Resources)
	}
	var certs *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if m.MountPath == cfg.Server.CertDir {
			certs = &c.VolumeMounts[i]
		}
	}
	if certs == nil {
		t.Fatalf("nothing mounted at server.cert_dir %s", cfg.Server.CertDir)
	}
	for _, v := range pod.Spec.Volumes {
		if v.Name != certs.Name {
			continue
		}
		if cfg.TLS.Mode == config.TLSFiles && v.Secret == nil {
			t.Errorf("files mode: the certificate volume %+v is not the Secret", v)
		}
		if cfg.TLS.Mode != config.TLSFiles && (v.EmptyDir == nil || certs.ReadOnly) {
			t.Errorf("%s mode: server.cert_dir must be a writable emptyDir: %+v", cfg.TLS.Mode, v)
		}
	}
}

// checkRBAC keeps the webhook's permissions at what its code uses: no
// Secret outside its namespace, no pods or ReplicaSets, no wildcards, and
// writes to registrations only to its own.
func checkRBAC(t *testing.T, r rendered, cfg config.Webhook) {
	t.Helper()
	var rules []rbacv1.PolicyRule
	for _, u := range r.all("ClusterRole") {
		var cr rbacv1.ClusterRole
		into(t, u, &cr)
		rules = append(rules, cr.Rules...)
		for _, rule := range cr.Rules {
			if slices.Contains(rule.Resources, "secrets") {
				t.Errorf("cluster-wide Secret access: %+v", rule)
			}
			if slices.Contains(rule.Resources, "mutatingwebhookconfigurations") &&
				(slices.Contains(rule.Verbs, "update") || slices.Contains(rule.Verbs, "patch")) &&
				!slices.Equal(rule.ResourceNames, []string{cfg.Registration.Name}) {
				t.Errorf("writes to registrations other than %s: %+v", cfg.Registration.Name, rule)
			}
		}
	}
	for _, u := range r.all("Role") {
		var role rbacv1.Role
		into(t, u, &role)
		rules = append(rules, role.Rules...)
	}
	for _, rule := range rules {
		if slices.Contains(rule.Verbs, "*") || slices.Contains(rule.Resources, "*") || slices.Contains(rule.APIGroups, "*") {
			t.Errorf("wildcard rule %+v", rule)
		}
		// Pods are created only as the admission check's dry-runs, and
		// never read.
		if slices.Contains(rule.Resources, "pods") && !slices.Equal(rule.Verbs, []string{"create"}) {
			t.Errorf("the webhook only creates pods (dry-run), never reads them: %+v", rule)
		}
		if slices.Contains(rule.Resources, "replicasets") {
			t.Errorf("the webhook reads no ReplicaSets: %+v", rule)
		}
	}
}

// checkNamespaced puts every namespaced object in the release namespace.
func checkNamespaced(t *testing.T, r rendered) {
	t.Helper()
	clusterScoped := map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true, "MutatingWebhookConfiguration": true}
	for _, o := range r.objs {
		if clusterScoped[o.GetKind()] != (o.GetNamespace() == "") {
			t.Errorf("%s %s: namespace %q", o.GetKind(), o.GetName(), o.GetNamespace())
		}
		if clusterScoped[o.GetKind()] {
			continue
		}
		if o.GetNamespace() != releaseNamespace {
			t.Errorf("%s %s in namespace %q, not the release's", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}
}

// TestChartConfigChecksum rolls the webhook when, and only when, its
// configuration changes.
func TestChartConfigChecksum(t *testing.T) {
	checksum := func(args ...string) string {
		var d appsv1.Deployment
		renderChart(t, args...).one(t, "Deployment", &d)
		return d.Spec.Template.Annotations["checksum/config"]
	}
	base := checksum()
	if got := checksum("--set", "logLevel=debug"); got == base {
		t.Error("a configuration change leaves the checksum")
	}
	if got := checksum("--set", "kafka.brokers={kafka:9092}"); got == base {
		t.Error("a sidecar default change leaves the checksum")
	}
	if got := checksum("--set", "replicaCount=3"); got != base {
		t.Error("a change outside the configuration changes the checksum")
	}
}

// TestChartKafkaSettings follows the kafka.* values into the sidecar's
// defaults and the Secrets it mounts.
func TestChartKafkaSettings(t *testing.T) {
	cfg := renderChart(t, "-f", ciValues(t)["kafka-sasl"]).webhookConfig(t)
	k := cfg.Sidecar.Settings.Kafka
	if cfg.Sidecar.Settings.Sink.Type != "kafka" || len(k.Brokers) != 2 || k.Topic != "shop.pairs" ||
		!k.TLS.Enabled || k.TLS.ServerName != "kafka.kafka.svc" || k.SASL.Mechanism != "SCRAM-SHA-512" || k.Compression != "lz4" {
		t.Errorf("sidecar kafka settings %+v", k)
	}
	if k.SASL.Password != "" || k.SASL.PasswordFile != "" {
		t.Error("a credential in the webhook's configuration")
	}
	want := config.KafkaSecrets{TLS: "podtap-kafka-tls", TLSClientCert: true, SASL: "podtap-kafka-sasl"}
	if cfg.Sidecar.KafkaSecrets != want {
		t.Errorf("kafka secrets %+v, want %+v", cfg.Sidecar.KafkaSecrets, want)
	}

	cfg = renderChart(t).webhookConfig(t)
	if cfg.Sidecar.Settings.Sink.Type != "stdout" || cfg.Sidecar.KafkaSecrets != (config.KafkaSecrets{}) {
		t.Errorf("without brokers: sink %s, secrets %+v", cfg.Sidecar.Settings.Sink.Type, cfg.Sidecar.KafkaSecrets)
	}
}

func diffYAML(t *testing.T, want, got any) string {
	t.Helper()
	w, err := yaml.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	g, err := yaml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(w)), B: difflib.SplitLines(string(g)),
		FromFile: "webhook.Registration", ToFile: "chart", Context: 3,
	})
	return d
}

// TestChartBrokersString: `--set kafka.brokers=kafka:9092`, the first
// thing a Helm user types, gives a string, not a list; the chart takes it,
// and a comma-separated one, as it takes the list, and refuses what is no
// broker with an error naming the value.
func TestChartBrokersString(t *testing.T) {
	two := []string{"kafka-0:9092", "kafka-1:9093"}
	for _, tc := range []struct {
		name string
		set  []string
		want []string
	}{
		{"one", []string{"--set", "kafka.brokers=kafka:9092"}, []string{"kafka:9092"}},
		{"escaped comma", []string{"--set", `kafka.brokers=kafka-0:9092\,kafka-1:9093`}, two},
		{"list", []string{"--set", "kafka.brokers={kafka-0:9092,kafka-1:9093}"}, two},
		{"empty string", []string{"--set", "kafka.brokers="}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := renderChart(t, tc.set...).webhookConfig(t).Sidecar.Settings
			if !slices.Equal(s.Kafka.Brokers, tc.want) {
				t.Fatalf("brokers %q, want %q", s.Kafka.Brokers, tc.want)
			}
			wantSink := "kafka"
			if tc.want == nil {
				wantSink = "stdout"
			}
			if s.Sink.Type != wantSink {
				t.Fatalf("sink %q, want %q", s.Sink.Type, wantSink)
			}
		})
	}
	for _, bad := range []string{"kafka", `kafka:9092\,\,kafka-1:9092`, "kafka:port", "kafka:9092\\,"} {
		_, err := runHelm(t, "template", releaseName, chartDir, "--namespace", releaseNamespace, "--set-string", "kafka.brokers="+bad)
		if err == nil || !strings.Contains(err.Error(), "/kafka/brokers") {
			t.Errorf("kafka.brokers=%q: %v, want an error naming brokers", bad, err)
		}
	}
}

// TestChartHostNetwork: hostNetwork puts the webhook pods on the node's
// network, resolving cluster names still; off by default.
func TestChartHostNetwork(t *testing.T) {
	for _, on := range []bool{false, true} {
		var dep appsv1.Deployment
		renderChart(t, "--set", fmt.Sprintf("hostNetwork=%t", on)).one(t, "Deployment", &dep)
		spec := dep.Spec.Template.Spec
		wantDNS := corev1.DNSPolicy("")
		if on {
			wantDNS = corev1.DNSClusterFirstWithHostNet
		}
		if spec.HostNetwork != on || spec.DNSPolicy != wantDNS {
			t.Errorf("hostNetwork=%t: pod hostNetwork %t, dnsPolicy %q, want %q", on, spec.HostNetwork, spec.DNSPolicy, wantDNS)
		}
	}
}

// TestChartAdmissionCheck: webhook.admissionCheck sets the webhook's
// dry-run and the ClusterRole's right to create pods together.
func TestChartAdmissionCheck(t *testing.T) {
	for _, on := range []bool{true, false} {
		r := renderChart(t, "--set", fmt.Sprintf("webhook.admissionCheck=%t", on))
		if got := r.webhookConfig(t).Injection.AdmissionCheck.Enabled; got != on {
			t.Errorf("webhook.admissionCheck=%t: injection.admission_check.enabled %t", on, got)
		}
		createsPods := false
		for _, u := range r.all("ClusterRole") {
			var cr rbacv1.ClusterRole
			into(t, u, &cr)
			for _, rule := range cr.Rules {
				createsPods = createsPods || slices.Contains(rule.Resources, "pods") && slices.Contains(rule.Verbs, "create")
			}
		}
		if createsPods != on {
			t.Errorf("webhook.admissionCheck=%t: the ClusterRole creates pods: %t", on, createsPods)
		}
	}
}

// TestChartAllowTLSCapture: webhook.allowTLSCapture reaches the webhook's
// injection.allow_tls_capture, allowed by default.
func TestChartAllowTLSCapture(t *testing.T) {
	if !renderChart(t).webhookConfig(t).Injection.AllowTLSCapture {
		t.Error("TLS capture is forbidden by default")
	}
	if renderChart(t, "--set", "webhook.allowTLSCapture=false").webhookConfig(t).Injection.AllowTLSCapture {
		t.Error("webhook.allowTLSCapture=false: injection.allow_tls_capture still true")
	}
}
