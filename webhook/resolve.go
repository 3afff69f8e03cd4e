package webhook

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/podtap/podtap/config"
)

// Origin says where a pod's value came from.
type Origin string

// Origins of a resolved value. A value from neither annotation is the
// webhook template's.
const (
	FromNamespace Origin = "namespace"
	FromPod       Origin = "pod"
)

// Invalid is an annotation value that was ignored, and why. The pod is
// injected with the rest.
type Invalid struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Origin Origin `json:"origin"`
	Reason string `json:"reason"`
}

func (i Invalid) String() string {
	return fmt.Sprintf("%s annotation %s=%q ignored: %s", i.Origin, i.Key, i.Value, i.Reason)
}

// PodSettings is what one pod's sidecar gets.
type PodSettings struct {
	// Sidecar is the sidecar configuration: the template's settings with
	// the annotations applied, validated as the sidecar validates it.
	Sidecar config.Sidecar
	// Origins maps each annotation key that applied to where it came from.
	Origins map[string]Origin
	// Resources are the container's requests and limits.
	Resources config.Resources
	// Native is the podtap.io/native-sidecar choice; nil when not set.
	Native *bool
	// Image is the template's image or an allowed override.
	Image string
	// TLSForbidden is true when podtap.io/tls asked for TLS capture and
	// injection.allow_tls_capture forbids it.
	TLSForbidden bool
}

// Resolve computes one pod's sidecar settings from the webhook
// configuration and the podtap.io/* annotations of its namespace (defaults)
// and of the pod (overrides). An invalid value is ignored and reported; a
// pod's invalid value falls back to the namespace's. Unknown podtap.io/*
// keys are reported too, since they are most often typos.
func Resolve(cfg *config.Webhook, nsAnnotations, podAnnotations map[string]string) (PodSettings, []Invalid) {
	r := resolver{cfg: cfg, ns: nsAnnotations, pod: podAnnotations}
	return r.resolve()
}

type resolver struct {
	cfg     *config.Webhook
	ns, pod map[string]string
	out     PodSettings
	invalid []Invalid
}

// candidate is one annotation value in the order it is tried: the pod's,
// then the namespace's.
type candidate struct {
	value  string
	origin Origin
}

func (r *resolver) candidates(key string) []candidate {
	var cs []candidate
	if v, ok := r.pod[key]; ok {
		cs = append(cs, candidate{v, FromPod})
	}
	if v, ok := r.ns[key]; ok {
		cs = append(cs, candidate{v, FromNamespace})
	}
	return cs
}

func (r *resolver) reject(key string, c candidate, reason string) {
	r.invalid = append(r.invalid, Invalid{Key: key, Value: c.value, Origin: c.origin, Reason: reason})
}

func (r *resolver) resolve() (PodSettings, []Invalid) {
	r.out = PodSettings{
		Sidecar: r.cfg.Sidecar.Settings,
		Origins: map[string]Origin{},
		Image:   r.cfg.Sidecar.Image,
	}
	r.unknown(FromNamespace, r.ns)
	r.unknown(FromPod, r.pod)
	for _, a := range config.Annotations {
		if a.Setting != "" {
			r.setting(a)
		}
	}
	r.resources()
	r.native()
	r.image()
	return r.out, r.invalid
}

func (r *resolver) unknown(origin Origin, annotations map[string]string) {
	var keys []string
	for k := range annotations {
		if _, known := config.LookupAnnotation(k); strings.HasPrefix(k, config.AnnotationPrefix) && !known && !config.Reserved(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.reject(k, candidate{annotations[k], origin}, "unknown podtap.io annotation")
	}
}

// setting applies the first valid candidate through the sidecar's own
// loader and validation, so the webhook accepts exactly what the sidecar
// will accept from the env it renders.
func (r *resolver) setting(a config.Annotation) {
	for _, c := range r.candidates(a.Key) {
		if err := a.Check(c.value); err != nil {
			r.reject(a.Key, c, err.Error())
			continue
		}
		value := c.value
		switch a.Setting {
		case "redact.headers":
			value = unionHeaders(r.out.Sidecar.Redact.Headers, value)
		case "redact.types":
			value = unionHeaders(r.out.Sidecar.Redact.Types, value)
		}
		next, err := config.ApplySetting(r.out.Sidecar, a.Setting, value)
		if err != nil {
			r.reject(a.Key, c, err.Error())
			continue
		}
		if a.Key == config.AnnotationTLS && !r.tlsAllowed(next) {
			r.reject(a.Key, c, tlsForbiddenReason)
			continue
		}
		r.out.Sidecar = next
		r.out.Origins[a.Key] = c.origin
		return
	}
}

// tlsAllowed says whether the settings' TLS capture may be honoured; a
// refused request is remembered for the pod's status.
func (r *resolver) tlsAllowed(sc config.Sidecar) bool {
	if libs, _ := config.ParseTLS(sc.Capture.TLS); len(libs) == 0 || r.cfg.Injection.AllowTLSCapture {
		return true
	}
	r.out.TLSForbidden = true
	return false
}

// unionHeaders keeps the configured names (headers, or types) and adds
// the pod's: an annotation may mask more, never unmask what the operator
// masks.
func unionHeaders(configured []string, extra string) string {
	seen := map[string]bool{}
	var out []string
	for _, h := range append(append([]string{}, configured...), strings.Split(extra, ",")...) {
		h = strings.ToLower(strings.TrimSpace(h))
		if h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return strings.Join(out, ",")
}

// resources resolves requests and limits. A limit annotated below the
// template's request lowers that request, since the pod asked for the
// smaller footprint; a request annotated above its limit is rejected,
// because the API server would reject the pod.
func (r *resolver) resources() {
	tmpl, err := r.cfg.Sidecar.Resources()
	if err != nil {
		// Validate rejects such a configuration; keep the pod unharmed.
		tmpl = config.Resources{}
	}
	out := tmpl
	// pick applies the first candidate that parses and passes accept.
	pick := func(key string, dst **resource.Quantity, accept func(q *resource.Quantity) error) {
		for _, c := range r.candidates(key) {
			q, err := config.ParseQuantity(c.value)
			if err == nil {
				err = accept(&q)
			}
			if err != nil {
				r.reject(key, c, err.Error())
				continue
			}
			*dst = &q
			r.out.Origins[key] = c.origin
			return
		}
	}
	for _, kind := range []struct {
		name           string
		reqKey, limKey string
		req, lim       **resource.Quantity
	}{
		{"cpu", config.AnnotationCPURequest, config.AnnotationCPULimit, &out.CPURequest, &out.CPULimit},
		{"memory", config.AnnotationMemoryRequest, config.AnnotationMemoryLimit, &out.MemoryRequest, &out.MemoryLimit},
	} {
		pick(kind.limKey, kind.lim, func(*resource.Quantity) error { return nil })
		pick(kind.reqKey, kind.req, func(q *resource.Quantity) error {
			if lim := *kind.lim; lim != nil && q.Cmp(*lim) > 0 {
				return fmt.Errorf("%s request %s exceeds the %s limit %s", kind.name, q, kind.name, lim)
			}
			return nil
		})
		if req, lim := *kind.req, *kind.lim; req != nil && lim != nil && req.Cmp(*lim) > 0 {
			lowered := lim.DeepCopy()
			*kind.req = &lowered
		}
	}
	r.out.Resources = out
}

func (r *resolver) native() {
	a, _ := config.LookupAnnotation(config.AnnotationNativeSidecar)
	for _, c := range r.candidates(a.Key) {
		if err := a.Check(c.value); err != nil {
			r.reject(a.Key, c, err.Error())
			continue
		}
		native := c.value == "true"
		r.out.Native = &native
		r.out.Origins[a.Key] = c.origin
		return
	}
}

func (r *resolver) image() {
	a, _ := config.LookupAnnotation(config.AnnotationImage)
	for _, c := range r.candidates(a.Key) {
		if !r.cfg.Injection.AllowImageOverride {
			r.reject(a.Key, c, "image override is not allowed (injection.allow_image_override is off)")
			continue
		}
		if err := a.Check(c.value); err != nil {
			r.reject(a.Key, c, err.Error())
			continue
		}
		r.out.Image = c.value
		r.out.Origins[a.Key] = c.origin
		return
	}
}
