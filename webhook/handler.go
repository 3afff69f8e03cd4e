// Package webhook is podtap's mutating admission webhook: it injects the
// capture sidecar into the pods of opted-in namespaces.
//
// The handler is thin: it decodes the pod, fetches its namespace, calls the
// pure Mutate, and answers with a patch. It never denies a pod. Whatever
// goes wrong, the pod is admitted as it came, and an Event and a metric say
// so; a webhook outage must not stop a cluster from creating pods.
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/podtap/podtap/config"
)

// MutatePath is where the admission endpoint is served.
const MutatePath = "/mutate-v1-pod"

// NamespaceGetter returns a namespace by name.
type NamespaceGetter func(ctx context.Context, name string) (*corev1.Namespace, error)

// Handler answers pod admission requests.
type Handler struct {
	Config     *config.Webhook
	Version    string
	Cluster    func() Cluster
	Namespaces NamespaceGetter
	Events     EventRecorder
	Log        *slog.Logger
	// Admission dry-runs injected pods; nil turns the check off.
	Admission *AdmissionCheck
}

var _ admission.Handler = (*Handler)(nil)

// Handle admits every pod, injected or not.
func (h *Handler) Handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	dryRun := req.DryRun != nil && *req.DryRun
	var pod *corev1.Pod
	defer func() {
		if p := recover(); p != nil {
			resp = h.failed(req, pod, dryRun, ErrorPanic, fmt.Errorf("panic: %v", p))
		}
	}()
	if req.Operation != admissionv1.Create || req.Kind.Kind != "Pod" || req.SubResource != "" {
		return admission.Allowed("podtap: not a pod creation")
	}
	pod = &corev1.Pod{}
	if err := json.Unmarshal(req.Object.Raw, pod); err != nil {
		return h.failed(req, nil, dryRun, ErrorDecode, fmt.Errorf("decoding the pod: %w", err))
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	ns, err := h.Namespaces(ctx, pod.Namespace)
	if err != nil {
		return h.failed(req, pod, dryRun, ErrorNamespace, fmt.Errorf("getting namespace %q: %w", pod.Namespace, err))
	}
	cluster := h.Cluster()
	res, err := Mutate(Input{Config: h.Config, Version: h.Version, Cluster: cluster, Namespace: ns, Pod: pod})
	if err != nil {
		return h.failed(req, pod, dryRun, ErrorMutate, err)
	}

	// A pod injected by an earlier pass (a reinvocation) was checked,
	// counted and reported then: that pass's dry-run ran the whole chain,
	// later webhooks included. A status the pod was created with (a copy
	// of an injected pod) is no such pass.
	_, again := readStatus(pod)
	again = again && writtenThisAdmission(pod)
	var warnings []string
	for _, inv := range res.Invalid {
		warnings = append(warnings, "podtap: "+inv.String())
	}
	if !dryRun && !again && len(res.Invalid) > 0 {
		countInvalid(res.Invalid)
		emit(h.Events, pod, corev1.EventTypeWarning, EventInvalidAnnotation, invalidNote(res.Invalid))
	}
	log := h.Log.With("namespace", pod.Namespace, "pod", podName(pod), "uid", req.UID, "dryRun", dryRun)

	if res.Skip != nil {
		return h.skipped(pod, res.Skip, dryRun, warnings, log)
	}

	ops := Patch(pod, res.Pod)
	if h.Admission != nil && !dryRun && !again && len(ops) > 0 {
		var withoutTLS func() (*corev1.Pod, error)
		if res.Status.TLS != "" {
			withoutTLS = func() (*corev1.Pod, error) {
				plain := withTLSOff(pod)
				r, err := Mutate(Input{Config: h.Config, Version: h.Version, Cluster: cluster, Namespace: ns, Pod: plain})
				return r.Pod, err
			}
		}
		v, err := h.Admission.Check(ctx, pod, res.Pod, withoutTLS)
		if err == nil && v.Rejected {
			return h.rejected(pod, v, warnings, log)
		}
		remutate := false
		if err == nil && v.TLSRejected && withoutTLS != nil {
			log.Warn("the API server would reject the sidecar's TLS capture; injecting without it", "reason", v.Reason, "cached", v.Cached)
			cluster.TLSRejected = tlsRejectedDetail(v.Reason)
			remutate = true
		}
		if err == nil && v.RestartPolicyDropped {
			log.Warn("the API server drops restartPolicy from init containers; injecting a regular container")
			cluster.RestartPolicyDropped = true
			remutate = true
		}
		if remutate {
			if res, err = Mutate(Input{Config: h.Config, Version: h.Version, Cluster: cluster, Namespace: ns, Pod: pod}); err != nil {
				return h.failed(req, pod, dryRun, ErrorMutate, err)
			}
			if res.Skip != nil {
				return h.skipped(pod, res.Skip, dryRun, warnings, log)
			}
			ops = Patch(pod, res.Pod)
		}
	}
	if off := res.Status.TLSOff; off != nil && off.Reason == TLSOffAdmissionRejected {
		warnings = append(warnings, "podtap: injected without TLS capture: "+off.String())
	}
	if !dryRun && !again && len(ops) > 0 {
		eventtype, reason := corev1.EventTypeNormal, ""
		if off := res.Status.TLSOff; off != nil {
			eventtype, reason = corev1.EventTypeWarning, off.Reason
		}
		Pods.WithLabelValues(ResultInjected, reason).Inc()
		emit(h.Events, pod, eventtype, EventInjected, injectedNote(res))
	}
	log.Info("pod injected", "interface", res.Status.Interface, "native", res.Status.Native,
		"mesh", res.Mesh.Name, "tls", res.Status.TLS, "tlsOff", res.Status.TLSOff, "operations", len(ops),
		"invalid", len(res.Invalid), "reinvoked", again)
	if len(ops) == 0 {
		return admission.Allowed("podtap: already injected").WithWarnings(warnings...)
	}
	return admission.Patched("podtap: injected", ops...).WithWarnings(warnings...)
}

// injectedNote names the mesh and its evidence, so that a user who sees
// no eth0 traffic knows why the capture is on lo.
func injectedNote(res Result) string {
	note := fmt.Sprintf("Injected podtap %s (interface %s, native sidecar %t)", res.Status.Version, res.Status.Interface, res.Status.Native)
	if res.Mesh.Name != "" {
		note += fmt.Sprintf("; mesh %s (%s): eth0 carries only its mTLS, so plaintext is captured on lo", res.Mesh.Name, res.Mesh.Evidence)
	}
	if res.Status.TLS != "" {
		note += "; TLS capture of " + res.Status.TLS
	}
	if off := res.Status.TLSOff; off != nil {
		note += "; without TLS capture: " + off.String()
	}
	return note
}

// skipped admits the pod as it came.
func (h *Handler) skipped(pod *corev1.Pod, skip *Skip, dryRun bool, warnings []string, log *slog.Logger) admission.Response {
	if !skip.intentional() && !skip.Repeated {
		warnings = append(warnings, "podtap: not injected: "+skip.String())
	}
	if !dryRun && !skip.Repeated {
		Pods.WithLabelValues(ResultSkipped, skip.Reason).Inc()
		emit(h.Events, pod, corev1.EventTypeNormal, EventSkipped, "Skipped: "+skip.String())
	}
	log.Info("pod skipped", "reason", skip.Reason, "detail", skip.Detail)
	return admission.Allowed("podtap: skipped: " + skip.Reason).WithWarnings(warnings...)
}

// rejected admits the pod without podtap, recording why in its status, an
// Event on its owner and the metric.
func (h *Handler) rejected(pod *corev1.Pod, v Verdict, warnings []string, log *slog.Logger) admission.Response {
	skip := &Skip{Reason: SkipAdmissionRejected, Detail: "the API server would reject the pod with the podtap sidecar, so it is created without it: " + v.Reason}
	if len(skip.Detail) > maxNote {
		skip.Detail = skip.Detail[:maxNote-3] + "..."
	}
	Pods.WithLabelValues(ResultSkipped, SkipAdmissionRejected).Inc()
	emit(h.Events, pod, corev1.EventTypeWarning, EventSkipped, "Skipped: "+skip.String())
	log.Warn("pod skipped", "reason", skip.Reason, "detail", skip.Detail, "cached", v.Cached)
	warnings = append(warnings, "podtap: not injected: "+skip.String())

	raw, err := Status{Version: h.Version, Skipped: skip.Detail}.encode()
	if err != nil {
		return admission.Allowed("podtap: skipped: " + skip.Reason).WithWarnings(warnings...)
	}
	annotations := map[string]string{config.AnnotationStatus: raw}
	ops := mapOps("/metadata/annotations", pod.Annotations, annotations, config.AnnotationStatus)
	return admission.Patched("podtap: skipped: "+skip.Reason, ops...).WithWarnings(warnings...)
}

// failed admits the pod unmutated: an error of podtap's must never cost a
// workload its pod.
func (h *Handler) failed(req admission.Request, pod *corev1.Pod, dryRun bool, step string, err error) admission.Response {
	h.Log.Error("pod admitted without podtap", "step", step, "namespace", req.Namespace, "uid", req.UID, "error", err)
	if !dryRun {
		Pods.WithLabelValues(ResultError, step).Inc()
		if pod == nil {
			pod = &corev1.Pod{}
			pod.Namespace = req.Namespace
		}
		emit(h.Events, pod, corev1.EventTypeWarning, EventFailed, "Not injected: "+err.Error())
	}
	return admission.Allowed("podtap: not injected: internal error").
		WithWarnings("podtap: not injected: internal error in step " + step)
}

func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName + "*"
}
