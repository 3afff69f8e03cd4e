package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/podtap/podtap/config"
)

// recorded is one Event the handler emitted.
type recorded struct {
	regarding *corev1.ObjectReference
	eventtype string
	reason    string
	note      string
}

type recorder struct {
	mu     sync.Mutex
	events []recorded
}

func (r *recorder) Eventf(regarding, _ runtime.Object, eventtype, reason, _, note string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ref, _ := regarding.(*corev1.ObjectReference)
	if len(args) > 0 {
		note = args[0].(string)
	}
	r.events = append(r.events, recorded{ref, eventtype, reason, note})
}

func testHandler(t *testing.T, namespaces map[string]*corev1.Namespace, nsErr error) (*Handler, *recorder) {
	t.Helper()
	cfg := config.DefaultWebhook()
	rec := &recorder{}
	return &Handler{
		Config:  &cfg,
		Version: "v-test",
		Cluster: func() Cluster { return Cluster{NativeSidecars: true} },
		Namespaces: func(_ context.Context, name string) (*corev1.Namespace, error) {
			if nsErr != nil {
				return nil, nsErr
			}
			return namespaces[name], nil
		},
		Events: rec,
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, rec
}

func shopNamespace() map[string]*corev1.Namespace {
	return map[string]*corev1.Namespace{"shop": {ObjectMeta: metav1.ObjectMeta{
		Name:   "shop",
		Labels: map[string]string{config.LabelInject: "enabled"},
	}}}
}

func podRequest(t *testing.T, pod *corev1.Pod, dryRun bool) admission.Request {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "req-1",
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: "shop",
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: raw},
		DryRun:    ptr.To(dryRun),
	}}
}

func ownedPod(annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "api-6b8f9c7d5-",
			Labels:       map[string]string{"pod-template-hash": "6b8f9c7d5"},
			Annotations:  annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "api-6b8f9c7d5", UID: "rs-uid", Controller: ptr.To(true),
			}},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "registry.example/api:1"}}},
	}
}

func TestHandlerInjectsWithEventMetricAndWarnings(t *testing.T) {
	h, rec := testHandler(t, shopNamespace(), nil)
	before := testutil.ToFloat64(Pods.WithLabelValues(ResultInjected, ""))
	invalidBefore := testutil.ToFloat64(InvalidAnnotations.WithLabelValues("podtap.io/sample-rate"))
	resp := h.Handle(context.Background(), podRequest(t, ownedPod(map[string]string{"podtap.io/sample-rate": "7"}), false))
	if !resp.Allowed || len(resp.Patches) == 0 {
		t.Fatalf("response %+v", resp)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "podtap.io/sample-rate") {
		t.Fatalf("warnings %q", resp.Warnings)
	}
	if got := testutil.ToFloat64(Pods.WithLabelValues(ResultInjected, "")); got != before+1 {
		t.Fatalf("injections %v -> %v", before, got)
	}
	if got := testutil.ToFloat64(InvalidAnnotations.WithLabelValues("podtap.io/sample-rate")); got != invalidBefore+1 {
		t.Fatalf("invalid sample rates %v -> %v", invalidBefore, got)
	}
	if len(rec.events) != 2 {
		t.Fatalf("events %+v", rec.events)
	}
	for _, e := range rec.events {
		if e.regarding.Kind != "ReplicaSet" || e.regarding.Name != "api-6b8f9c7d5" || e.regarding.UID != "rs-uid" || e.regarding.Namespace != "shop" {
			t.Fatalf("event regarding %+v, want the owning ReplicaSet", e.regarding)
		}
	}
	if rec.events[0].reason != EventInvalidAnnotation || rec.events[1].reason != EventInjected {
		t.Fatalf("event reasons %q, %q", rec.events[0].reason, rec.events[1].reason)
	}
}

func TestHandlerDryRunRecordsNothing(t *testing.T) {
	h, rec := testHandler(t, shopNamespace(), nil)
	before := testutil.ToFloat64(Pods.WithLabelValues(ResultInjected, ""))
	resp := h.Handle(context.Background(), podRequest(t, ownedPod(map[string]string{"podtap.io/ports": "x"}), true))
	if !resp.Allowed || len(resp.Patches) == 0 {
		t.Fatalf("a dry run must still show the mutation: %+v", resp)
	}
	if len(rec.events) != 0 || testutil.ToFloat64(Pods.WithLabelValues(ResultInjected, "")) != before {
		t.Fatalf("a dry run recorded events %+v or metrics", rec.events)
	}
}

func TestHandlerSkipsWithReason(t *testing.T) {
	ns := shopNamespace()
	ns["shop"].Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	h, rec := testHandler(t, ns, nil)
	before := testutil.ToFloat64(Pods.WithLabelValues(ResultSkipped, SkipPodSecurity))
	pod := ownedPod(nil)
	pod.OwnerReferences = nil
	pod.Name = "bare"
	resp := h.Handle(context.Background(), podRequest(t, pod, false))
	if !resp.Allowed || len(resp.Patches) != 0 {
		t.Fatalf("response %+v", resp)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], SkipPodSecurity) {
		t.Fatalf("warnings %q", resp.Warnings)
	}
	if testutil.ToFloat64(Pods.WithLabelValues(ResultSkipped, SkipPodSecurity)) != before+1 {
		t.Fatal("skip not counted")
	}
	if len(rec.events) != 1 || rec.events[0].reason != EventSkipped || rec.events[0].regarding.Kind != "Pod" ||
		rec.events[0].regarding.Name != "bare" || !strings.HasPrefix(rec.events[0].note, "Skipped: pod_security") {
		t.Fatalf("events %+v", rec.events)
	}
}

func TestHandlerNeverDenies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		req   func(t *testing.T) admission.Request
		nsErr error
		step  string
	}{
		{"namespace lookup fails", func(t *testing.T) admission.Request { return podRequest(t, ownedPod(nil), false) },
			errors.New("apiserver unreachable"), ErrorNamespace},
		{"undecodable pod", func(t *testing.T) admission.Request {
			r := podRequest(t, ownedPod(nil), false)
			r.Object.Raw = []byte(`{"spec": {"containers": "not a list"}}`)
			return r
		}, nil, ErrorDecode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, rec := testHandler(t, shopNamespace(), tc.nsErr)
			before := testutil.ToFloat64(Pods.WithLabelValues(ResultError, tc.step))
			resp := h.Handle(context.Background(), tc.req(t))
			if !resp.Allowed || len(resp.Patches) != 0 || resp.Result == nil {
				t.Fatalf("response %+v", resp)
			}
			if testutil.ToFloat64(Pods.WithLabelValues(ResultError, tc.step)) != before+1 {
				t.Fatal("error not counted")
			}
			if len(rec.events) != 1 || rec.events[0].reason != EventFailed || rec.events[0].eventtype != corev1.EventTypeWarning {
				t.Fatalf("events %+v", rec.events)
			}
		})
	}

	t.Run("a panic is recovered and the pod admitted", func(t *testing.T) {
		h, _ := testHandler(t, shopNamespace(), nil)
		h.Cluster = func() Cluster { panic("boom") }
		before := testutil.ToFloat64(Pods.WithLabelValues(ResultError, ErrorPanic))
		resp := h.Handle(context.Background(), podRequest(t, ownedPod(nil), false))
		if !resp.Allowed || len(resp.Patches) != 0 {
			t.Fatalf("response %+v", resp)
		}
		if testutil.ToFloat64(Pods.WithLabelValues(ResultError, ErrorPanic)) != before+1 {
			t.Fatal("panic not counted")
		}
	})

	t.Run("not a pod creation", func(t *testing.T) {
		h, rec := testHandler(t, shopNamespace(), nil)
		req := podRequest(t, ownedPod(nil), false)
		req.Operation = admissionv1.Update
		if resp := h.Handle(context.Background(), req); !resp.Allowed || len(resp.Patches) != 0 || len(rec.events) != 0 {
			t.Fatalf("response %+v", resp)
		}
	})
}

// TestHandlerResponseRoundTrip runs the full admission.Webhook path, JSON
// in and out, as the API server sees it.
func TestHandlerResponseRoundTrip(t *testing.T) {
	h, _ := testHandler(t, shopNamespace(), nil)
	wh := &admission.Webhook{Handler: h}
	resp := wh.Handle(context.Background(), podRequest(t, ownedPod(nil), false))
	if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch || len(resp.Patch) == 0 {
		t.Fatalf("response %+v", resp.AdmissionResponse)
	}
	var ops []map[string]any
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	if ops[0]["path"] != "/spec/initContainers" {
		t.Fatalf("first operation %v", ops[0])
	}
}

// TestHandlerReinvocationCountsOnce passes the injected pod through the
// handler again, as reinvocation does, unchanged and with a mesh proxy
// added by a later webhook: the pod is counted and reported once.
func TestHandlerReinvocationCountsOnce(t *testing.T) {
	h, rec := testHandler(t, shopNamespace(), nil)
	before := testutil.ToFloat64(Pods.WithLabelValues(ResultInjected, ""))
	pod := ownedPod(nil)
	first := h.Handle(context.Background(), podRequest(t, pod, false))
	injected := applyResponse(t, pod, first)

	again := h.Handle(context.Background(), podRequest(t, injected, false))
	if !again.Allowed || len(again.Patches) != 0 {
		t.Fatalf("an unchanged second pass patched %+v", again.Patches)
	}
	meshed := injected.DeepCopy()
	meshed.Spec.Containers = append(meshed.Spec.Containers, corev1.Container{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.27.0"})
	if resp := h.Handle(context.Background(), podRequest(t, meshed, false)); len(resp.Patches) == 0 {
		t.Fatal("a mesh proxy added later did not switch the capture to lo")
	}
	if got := testutil.ToFloat64(Pods.WithLabelValues(ResultInjected, "")); got != before+1 {
		t.Fatalf("injections %v -> %v over three passes, want +1", before, got)
	}
	var injectedEvents int
	for _, e := range rec.events {
		if e.reason == EventInjected {
			injectedEvents++
		}
	}
	if injectedEvents != 1 {
		t.Fatalf("%d Injected events over three passes, want 1: %+v", injectedEvents, rec.events)
	}
}

func applyResponse(t *testing.T, pod *corev1.Pod, resp admission.Response) *corev1.Pod {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("applying %s: %v", ops, err)
	}
	patched := &corev1.Pod{}
	if err := json.Unmarshal(out, patched); err != nil {
		t.Fatal(err)
	}
	return patched
}

// countingCreator admits every dry-run, counting them.
type countingCreator struct{ calls int }

func (c *countingCreator) Create(context.Context, client.Object, ...client.CreateOption) error {
	c.calls++
	return nil
}

// sentStatus marks the pod's podtap.io/status as sent by its creator, the
// way the API server's managedFields record a copied annotation.
func sentStatus(pod *corev1.Pod) {
	pod.ManagedFields = []metav1.ManagedFieldsEntry{{
		Manager: "kubectl-create", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
		FieldsType: "FieldsV1",
		FieldsV1:   &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:annotations":{".":{},"f:podtap.io/status":{}}}}`)},
	}}
}

// TestHandlerCopiedStatusNotTrusted: a pod created with podtap's status
// already on it (a copied YAML) is judged afresh, while the same status
// written by an earlier pass of this admission still means a reinvocation.
func TestHandlerCopiedStatusNotTrusted(t *testing.T) {
	h, rec := testHandler(t, shopNamespace(), nil)
	creator := &countingCreator{}
	h.Admission = &AdmissionCheck{Client: creator, Config: config.DefaultWebhook().Injection.AdmissionCheck,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h.Admission.Config.CacheTTL = 0
	first := ownedPod(nil)
	injected := applyResponse(t, first, h.Handle(context.Background(), podRequest(t, first, false)))
	if creator.calls != 1 {
		t.Fatalf("%d dry-runs for a new pod, want 1", creator.calls)
	}

	skipped := ownedPod(map[string]string{config.AnnotationStatus: `{"version":"v-test","native":false,"skipped":"the API server would reject the pod with the podtap sidecar"}`})
	// A copy made by an older podtap: the copy's container is replaced,
	// so the pod is checked as any pod podtap changes.
	copiedInjected := injected.DeepCopy()
	copiedInjected.Annotations[config.AnnotationStatus] = strings.Replace(copiedInjected.Annotations[config.AnnotationStatus], `"v-test"`, `"v-older"`, 1)
	for _, tc := range []struct {
		name      string
		pod       *corev1.Pod
		sent      bool
		wantCheck bool
	}{
		{"skip written by this admission", skipped, false, false},
		{"skip copied from another pod", skipped, true, true},
		{"injection written by this admission", injected, false, false},
		{"injection copied from another pod", copiedInjected, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := tc.pod.DeepCopy()
			if tc.sent {
				sentStatus(pod)
			}
			calls, events := creator.calls, len(rec.events)
			before := testutil.ToFloat64(Pods.WithLabelValues(ResultInjected, ""))
			resp := h.Handle(context.Background(), podRequest(t, pod, false))
			if !resp.Allowed {
				t.Fatalf("response %+v", resp)
			}
			checked := creator.calls > calls
			if checked != tc.wantCheck {
				t.Fatalf("admission dry-run made: %t, want %t", checked, tc.wantCheck)
			}
			injectedNow := testutil.ToFloat64(Pods.WithLabelValues(ResultInjected, "")) - before
			if tc.wantCheck && (injectedNow != 1 || len(rec.events) != events+1 || rec.events[len(rec.events)-1].reason != EventInjected) {
				t.Fatalf("a pod judged afresh: injections +%v, events %+v; want +1 and an Injected Event", injectedNow, rec.events[events:])
			}
			if !tc.wantCheck && (injectedNow != 0 || len(rec.events) != events) {
				t.Fatalf("a reinvocation counted +%v injections and emitted %+v", injectedNow, rec.events[events:])
			}
			out := applyResponse(t, pod, resp)
			if st, _ := readStatus(out); tc.wantCheck && st.Container != ContainerName {
				t.Fatalf("status after a fresh judgement: %q", out.Annotations[config.AnnotationStatus])
			}
		})
	}
}
