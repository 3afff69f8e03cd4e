package webhook

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podtap/podtap/config"
)

func shop() *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{config.LabelInject: "enabled"}}}
}

// TestInjectedSettingsParseBackThroughTheSidecarLoader: every annotation
// the webhook accepts reaches the sidecar, through its own loader, as the
// value the annotation asked for.
func TestInjectedSettingsParseBackThroughTheSidecarLoader(t *testing.T) {
	cfg := config.DefaultWebhook()
	cfg.Sidecar.Settings.Sink.Type = "kafka"
	cfg.Sidecar.Settings.Kafka.Brokers = []string{"kafka:9092"}
	ns := shop()
	ns.Annotations = map[string]string{"podtap.io/grpc-reflection": "off", "podtap.io/sample-rate": "0.5"}
	pod := ownedPod(map[string]string{
		"podtap.io/interface":         "eth1",
		"podtap.io/ports":             "8080,8443",
		"podtap.io/exclude-ports":     "8443",
		"podtap.io/max-message-bytes": "256Ki",
		"podtap.io/response-timeout":  "45s",
		"podtap.io/content-types":     "application/json, text/plain",
		"podtap.io/sample-rate":       "0.75",
		"podtap.io/redact-headers":    "X-Secret",
		"podtap.io/kafka-topic":       "api.pairs",
		"podtap.io/log-level":         "warn",
	})
	pod.Namespace = "shop"
	res, err := Mutate(Input{Config: &cfg, Version: "v", Cluster: Cluster{NativeSidecars: true}, Namespace: ns, Pod: pod})
	if err != nil || res.Skip != nil || len(res.Invalid) != 0 {
		t.Fatalf("Mutate: %v, skip %v, invalid %v", err, res.Skip, res.Invalid)
	}
	sc, err := config.LoadSidecar(config.Source{Env: containerEnv(t, res.Pod)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"interface", sc.Capture.Interface, "eth1"},
		{"ports", sc.Capture.Ports, []int{8080, 8443}},
		{"exclude ports", sc.Capture.ExcludePorts, []int{8443}},
		{"max message bytes", sc.Limits.MaxMessageBytes, 256 * config.KiB},
		{"response timeout", sc.Pairing.ResponseTimeout, 45 * time.Second},
		{"content types", sc.Filter.ContentTypes, []string{"application/json", "text/plain"}},
		{"sample rate (pod beats namespace)", sc.Capture.SampleRate, 0.75},
		{"grpc reflection (namespace default)", sc.GRPC.Reflection, "off"},
		{"kafka topic", sc.Kafka.Topic, "api.pairs"},
		{"kafka brokers (template)", sc.Kafka.Brokers, []string{"kafka:9092"}},
		{"spool dir", sc.Kafka.Spool.Dir, SpoolMountPath},
		{"log level", sc.Log.Level, "warn"},
		{"workload", sc.Pod.Workload, "Deployment/api"},
		{"pod ips (downward API)", sc.Pod.IPs, []string{"10.1.2.3", "fd00::3"}},
	} {
		gotJSON, _ := json.Marshal(c.got)
		wantJSON, _ := json.Marshal(c.want)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("%s: the sidecar loads %s, want %s", c.name, gotJSON, wantJSON)
		}
	}
	if !slices.Contains(sc.Redact.Headers, "x-secret") || !slices.Contains(sc.Redact.Headers, "authorization") {
		t.Errorf("redacted headers %v", sc.Redact.Headers)
	}
}

// TestPatchKeepsFieldsThisBuildDoesNotKnow: a newer API server may send
// fields the typed Pod drops; the patch must not remove them.
func TestPatchKeepsFieldsThisBuildDoesNotKnow(t *testing.T) {
	raw := []byte(`{
	  "apiVersion": "v1", "kind": "Pod",
	  "metadata": {"generateName": "x-", "namespace": "shop", "futureMeta": {"a": 1}},
	  "spec": {
	    "futureSpecField": true,
	    "containers": [{"name": "app", "image": "registry.example/app:1", "futureContainerField": "keep"}],
	    "volumes": [{"name": "data", "emptyDir": {}, "futureVolumeField": 3}]
	  }
	}`)
	pod := &corev1.Pod{}
	if err := json.Unmarshal(raw, pod); err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultWebhook()
	cfg.Sidecar.Settings.Sink.Type = "kafka"
	cfg.Sidecar.Settings.Kafka.Brokers = []string{"kafka:9092"}
	res, err := Mutate(Input{Config: &cfg, Version: "v", Cluster: Cluster{NativeSidecars: false}, Namespace: shop(), Pod: pod})
	if err != nil || res.Pod == nil {
		t.Fatalf("Mutate: %v %v", err, res.Skip)
	}
	ops, err := json.Marshal(Patch(pod, res.Pod))
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"futureMeta"`, `"futureSpecField"`, `"futureContainerField":"keep"`, `"futureVolumeField":3`, `"name":"podtap"`, `"name":"podtap-spool"`} {
		if !strings.Contains(string(out), field) {
			t.Errorf("patched pod lacks %s: %s", field, out)
		}
	}
}

func TestChooseInterface(t *testing.T) {
	for _, tc := range []struct {
		iface  string
		origin Origin
		meshed bool
		want   string
	}{
		{"eth0", "", false, "eth0"},
		{"eth0", "", true, "lo"},
		{"eth0", FromNamespace, true, "lo"},
		{"eth0", FromPod, true, "eth0"},
		{"auto", "", false, "eth0"},
		{"auto", "", true, "lo"},
		{"auto", FromPod, true, "lo"},
		{"auto", FromPod, false, "eth0"},
		{"ens5", FromNamespace, false, "ens5"},
	} {
		s := PodSettings{Sidecar: config.DefaultSidecar(), Origins: map[string]Origin{}}
		s.Sidecar.Capture.Interface = tc.iface
		if tc.origin != "" {
			s.Origins[config.AnnotationInterface] = tc.origin
		}
		if got := chooseInterface(s, tc.meshed); got != tc.want {
			t.Errorf("%+v: %q", tc, got)
		}
	}
}

func TestWorkload(t *testing.T) {
	owner := func(apiVersion, kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, Controller: ptrTrue()}}
	}
	for _, tc := range []struct {
		refs   []metav1.OwnerReference
		labels map[string]string
		want   string
	}{
		{nil, nil, ""},
		{owner("apps/v1", "ReplicaSet", "web-5d4c3b2a1"), map[string]string{"pod-template-hash": "5d4c3b2a1"}, "Deployment/web"},
		{owner("apps/v1", "ReplicaSet", "standalone"), nil, "ReplicaSet/standalone"},
		{owner("apps/v1", "StatefulSet", "db"), nil, "StatefulSet/db"},
		{owner("batch/v1", "Job", "report-1"), nil, "Job/report-1"},
		{[]metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "not-controller"}}, nil, ""},
	} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: tc.refs, Labels: tc.labels}}
		if got := workload(pod); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.refs, got, tc.want)
		}
	}
}

func ptrTrue() *bool { b := true; return &b }

// FuzzMutate throws arbitrary annotations and labels at the mutation: it
// must never fail, and what it injects must load in the sidecar and be
// idempotent.
func FuzzMutate(f *testing.F) {
	f.Add("podtap.io/ports", "80", "podtap.io/native-sidecar", "true", "istio-injection", "enabled", true)
	f.Add("podtap.io/interface", "lo", "sidecar.istio.io/inject", "false", "pod-security.kubernetes.io/enforce", "privileged", false)
	f.Add("podtap.io/memory-limit", "1e99", "podtap.io/cpu-limit", "1m", "podtap.io/inject", "disabled", true)
	f.Add("podtap.io/status", `{"container":"x"}`, "podtap.io/image", "a:b", "linkerd.io/inject", "enabled", false)
	cfg := config.DefaultWebhook()
	cfg.Injection.AllowImageOverride = true
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, label, labelValue string, native bool) {
		ns := shop()
		ns.Annotations = map[string]string{k1: v1}
		ns.Labels[label] = labelValue
		pod := ownedPod(map[string]string{k2: v2, k1: v2})
		pod.Namespace = "shop"
		pod.Labels[label] = labelValue
		in := Input{Config: &cfg, Version: "v", Cluster: Cluster{NativeSidecars: native}, Namespace: ns, Pod: pod}
		res, err := Mutate(in)
		if err != nil {
			t.Fatalf("Mutate: %v", err)
		}
		if res.Pod == nil {
			return
		}
		if _, err := config.LoadSidecar(config.Source{Env: containerEnv(t, res.Pod)}); err != nil {
			t.Fatalf("the sidecar rejects its env: %v", err)
		}
		in.Pod = res.Pod
		again, err := Mutate(in)
		if err != nil || again.Pod == nil {
			t.Fatalf("second pass: %v, %v", err, again.Skip)
		}
		if ops := Patch(res.Pod, again.Pod); len(ops) != 0 {
			t.Fatalf("second pass changed %+v", ops)
		}
	})
}
