package webhook

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/podtap/podtap/config"
)

func TestResolveNamespaceDefaultsPodOverrides(t *testing.T) {
	cfg := config.DefaultWebhook()
	ns := map[string]string{
		"podtap.io/ports":        "80",
		"podtap.io/log-level":    "warn",
		"podtap.io/memory-limit": "300Mi",
		"unrelated.io/x":         "y",
	}
	pod := map[string]string{
		"podtap.io/ports":            "8080, 8443",
		"podtap.io/response-timeout": "1m",
	}
	s, invalid := Resolve(&cfg, ns, pod)
	if len(invalid) != 0 {
		t.Fatalf("invalid: %v", invalid)
	}
	if !slices.Equal(s.Sidecar.Capture.Ports, []int{8080, 8443}) || s.Sidecar.Log.Level != "warn" ||
		s.Sidecar.Pairing.ResponseTimeout != time.Minute || s.Resources.MemoryLimit.String() != "300Mi" {
		t.Fatalf("resolved %+v", s)
	}
	wantOrigins := map[string]Origin{
		"podtap.io/ports": FromPod, "podtap.io/response-timeout": FromPod,
		"podtap.io/log-level": FromNamespace, config.AnnotationMemoryLimit: FromNamespace,
	}
	for k, want := range wantOrigins {
		if s.Origins[k] != want {
			t.Errorf("origin of %s = %q, want %q", k, s.Origins[k], want)
		}
	}
	if len(s.Origins) != len(wantOrigins) {
		t.Errorf("origins %v", s.Origins)
	}
	if s.Image != cfg.Sidecar.Image || s.Native != nil {
		t.Fatalf("image %q native %v", s.Image, s.Native)
	}
}

func TestResolveInvalidFallsBackAndTheRestApplies(t *testing.T) {
	cfg := config.DefaultWebhook()
	s, invalid := Resolve(&cfg,
		map[string]string{"podtap.io/sample-rate": "0.5"},
		map[string]string{
			"podtap.io/sample-rate": "1.5",
			"podtap.io/log-level":   "debug",
			"podtap.io/kafka-topic": "a/b",
			"podtap.io/cpu-limit":   "nope",
			"podtap.io/portz":       "1",
		})
	if s.Sidecar.Capture.SampleRate != 0.5 || s.Sidecar.Log.Level != "debug" || s.Sidecar.Kafka.Topic != "podtap.pairs" {
		t.Fatalf("resolved %+v", s.Sidecar)
	}
	if s.Origins["podtap.io/sample-rate"] != FromNamespace {
		t.Fatalf("sample rate from %q", s.Origins["podtap.io/sample-rate"])
	}
	keys := map[string]bool{}
	for _, inv := range invalid {
		keys[inv.Key] = true
		if inv.Origin != FromPod || inv.Reason == "" {
			t.Errorf("invalid %+v", inv)
		}
	}
	for _, k := range []string{"podtap.io/sample-rate", "podtap.io/kafka-topic", "podtap.io/cpu-limit", "podtap.io/portz"} {
		if !keys[k] {
			t.Errorf("%s not reported invalid: %v", k, invalid)
		}
	}
	if len(invalid) != 4 {
		t.Errorf("invalid %v", invalid)
	}
}

func TestResolveResources(t *testing.T) {
	cfg := config.DefaultWebhook() // 50m/- cpu, 64Mi/256Mi memory
	for _, tc := range []struct {
		name                           string
		pod                            map[string]string
		cpuReq, cpuLim, memReq, memLim string
		invalid                        []string
	}{
		{"template", nil, "50m", "<nil>", "64Mi", "256Mi", nil},
		{"limit below the template request lowers it", map[string]string{config.AnnotationCPULimit: "20m", config.AnnotationMemoryLimit: "32Mi"},
			"20m", "20m", "32Mi", "32Mi", nil},
		{"request above the limit is rejected", map[string]string{config.AnnotationMemoryRequest: "1Gi"},
			"50m", "<nil>", "64Mi", "256Mi", []string{config.AnnotationMemoryRequest}},
		{"request and limit", map[string]string{config.AnnotationCPURequest: "100m", config.AnnotationCPULimit: "1"},
			"100m", "1", "64Mi", "256Mi", nil},
		{"zero and garbage", map[string]string{config.AnnotationCPURequest: "0", config.AnnotationMemoryLimit: "many"},
			"50m", "<nil>", "64Mi", "256Mi", []string{config.AnnotationCPURequest, config.AnnotationMemoryLimit}},
		{"an exponent too large to compute with", map[string]string{config.AnnotationMemoryLimit: "1e999999999", config.AnnotationCPULimit: "5e0002"},
			"50m", "500", "64Mi", "256Mi", []string{config.AnnotationMemoryLimit}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, invalid := Resolve(&cfg, nil, tc.pod)
			str := func(q interface{ String() string }, isNil bool) string {
				if isNil {
					return "<nil>"
				}
				return q.String()
			}
			r := s.Resources
			got := []string{
				str(r.CPURequest, r.CPURequest == nil), str(r.CPULimit, r.CPULimit == nil),
				str(r.MemoryRequest, r.MemoryRequest == nil), str(r.MemoryLimit, r.MemoryLimit == nil),
			}
			if want := []string{tc.cpuReq, tc.cpuLim, tc.memReq, tc.memLim}; !slices.Equal(got, want) {
				t.Fatalf("resources %v, want %v", got, want)
			}
			var keys []string
			for _, inv := range invalid {
				keys = append(keys, inv.Key)
			}
			slices.Sort(keys)
			want := slices.Clone(tc.invalid)
			slices.Sort(want)
			if !slices.Equal(keys, want) {
				t.Fatalf("invalid %v, want %v", invalid, tc.invalid)
			}
			if err := overLimit(r); err != nil {
				t.Fatalf("resolved resources the API server would reject: %v", err)
			}
		})
	}
}

func TestResolveRedactHeadersOnlyAdd(t *testing.T) {
	cfg := config.DefaultWebhook()
	s, invalid := Resolve(&cfg, nil, map[string]string{"podtap.io/redact-headers": "X-Token, Authorization"})
	if len(invalid) != 0 {
		t.Fatal(invalid)
	}
	want := append(slices.Clone(config.DefaultSidecar().Redact.Headers), "x-token")
	if !slices.Equal(s.Sidecar.Redact.Headers, want) {
		t.Fatalf("headers %v, want %v", s.Sidecar.Redact.Headers, want)
	}
}

func TestResolveImageOverride(t *testing.T) {
	pod := map[string]string{config.AnnotationImage: "registry.example/podtap/podtap-sidecar:debug"}
	cfg := config.DefaultWebhook()
	s, invalid := Resolve(&cfg, nil, pod)
	if s.Image != cfg.Sidecar.Image || len(invalid) != 1 || !strings.Contains(invalid[0].Reason, "not allowed") {
		t.Fatalf("denied override: image %q, invalid %v", s.Image, invalid)
	}
	cfg.Injection.AllowImageOverride = true
	s, invalid = Resolve(&cfg, nil, pod)
	if s.Image != pod[config.AnnotationImage] || len(invalid) != 0 {
		t.Fatalf("allowed override: image %q, invalid %v", s.Image, invalid)
	}
}

func TestResolveNativeAndReserved(t *testing.T) {
	cfg := config.DefaultWebhook()
	s, invalid := Resolve(&cfg, map[string]string{config.AnnotationNativeSidecar: "true"},
		map[string]string{config.AnnotationNativeSidecar: "false", config.AnnotationStatus: "{}", config.LabelInject: "enabled"})
	if len(invalid) != 0 || s.Native == nil || *s.Native {
		t.Fatalf("native %v, invalid %v", s.Native, invalid)
	}
}

// FuzzResolve feeds arbitrary values to the table's annotations, on the
// namespace and the pod: whatever Resolve accepts, the sidecar must accept
// too, and no value makes Resolve fail the pod.
func FuzzResolve(f *testing.F) {
	imageAnnotation, _ := config.LookupAnnotation(config.AnnotationImage)
	idx := func(key string) uint8 {
		for i, a := range config.Annotations {
			if a.Key == key {
				return uint8(i)
			}
		}
		panic(key)
	}
	f.Add(idx("podtap.io/ports"), "80,443", idx("podtap.io/sample-rate"), "0.5")
	f.Add(idx("podtap.io/max-message-bytes"), "1Gi", idx("podtap.io/response-timeout"), "-1s")
	f.Add(idx(config.AnnotationInterface), "", idx("podtap.io/content-types"), ",,,")
	f.Add(idx("podtap.io/redact-headers"), "a,b,,c", idx(config.AnnotationMemoryLimit), "1e3")
	f.Add(idx("podtap.io/exclude-ports"), "[1,2]", idx("podtap.io/kafka-topic"), "..")
	f.Add(idx(config.AnnotationCPURequest), "2", idx(config.AnnotationCPULimit), "1")
	f.Add(idx(config.AnnotationMemoryRequest), "1e999999999", idx(config.AnnotationCPULimit), "1E-0000000000000099")
	cfg := config.DefaultWebhook()
	cfg.Injection.AllowImageOverride = true
	f.Fuzz(func(t *testing.T, i1 uint8, v1 string, i2 uint8, v2 string) {
		k1 := config.Annotations[int(i1)%len(config.Annotations)].Key
		k2 := config.Annotations[int(i2)%len(config.Annotations)].Key
		s, invalid := Resolve(&cfg, map[string]string{k1: v1, k2: v2}, map[string]string{k2: v1, k1: v2})
		sc := s.Sidecar
		if err := sc.Validate(); err != nil {
			t.Fatalf("resolved settings do not validate: %v", err)
		}
		// Not nil even when nothing changed: a nil Env is the process's own.
		env := []string{}
		for _, key := range config.Changed(config.DefaultSidecar(), sc) {
			v, err := config.Value(sc, key)
			if err != nil {
				t.Fatalf("cannot render %s: %v", key, err)
			}
			env = append(env, config.EnvName(key)+"="+v)
		}
		if _, err := config.LoadSidecar(config.Source{Env: env}); err != nil {
			t.Fatalf("the sidecar rejects %q: %v", env, err)
		}
		if err := overLimit(s.Resources); err != nil {
			t.Fatal(err)
		}
		if s.Image != cfg.Sidecar.Image {
			if err := imageAnnotation.Check(s.Image); err != nil {
				t.Fatal(err)
			}
		}
		for _, inv := range invalid {
			if inv.Reason == "" {
				t.Fatalf("invalid without a reason: %+v", inv)
			}
		}
	})
}

// overLimit is the API server's rule: no request above its limit.
func overLimit(r config.Resources) error {
	if r.CPURequest != nil && r.CPULimit != nil && r.CPURequest.Cmp(*r.CPULimit) > 0 {
		return fmt.Errorf("cpu request %s exceeds the cpu limit %s", r.CPURequest, r.CPULimit)
	}
	if r.MemoryRequest != nil && r.MemoryLimit != nil && r.MemoryRequest.Cmp(*r.MemoryLimit) > 0 {
		return fmt.Errorf("memory request %s exceeds the memory limit %s", r.MemoryRequest, r.MemoryLimit)
	}
	return nil
}
