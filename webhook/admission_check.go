package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podtap/podtap/config"
)

// PodCreator is the API call the admission check makes: a pod create,
// always with dryRun=All.
type PodCreator interface {
	Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error
}

// AdmissionCheck asks the API server whether the injected pod would be
// admitted, by creating it with dryRun=All.
//
// Why a dry-run: what rejects a sidecar with NET_RAW or without a CPU
// limit is spread over Pod Security defaults in a file on the control
// plane, ValidatingAdmissionPolicies, Kyverno and Gatekeeper policies,
// quotas and other webhooks. Reading each of those would be a partial
// copy of their logic; learning from FailedCreate Events would cost every
// owner its first pods. A dry-run runs the real admission chain, every
// plugin and webhook, and persists nothing.
//
// Only a rejection caused by podtap skips the injection: when the
// injected pod is rejected, the pod as it came is dry-run too, and if that
// is rejected as well the pod is injected as before, so the user sees the
// real reason of a pod that fails either way.
//
// A pod with TLS capture asks for more than NET_RAW (a policy that allows
// NET_RAW may refuse BPF or PERFMON): when it is rejected, the pod with
// the plain sidecar is dry-run next, and if that is admitted the pod is
// injected without TLS capture rather than not at all.
//
// The dry-run of the injected pod comes back into this webhook; it
// carries dryRun=true, and the handler never checks a dry-run request, so
// the check does not recurse (a user's server-side dry-run is not checked
// either, and shows the injected pod). The plain pod is dry-run with the
// opt-out label, which keeps it away from the webhook altogether.
type AdmissionCheck struct {
	Client PodCreator
	Config config.AdmissionCheck
	Log    *slog.Logger

	cache verdictCache
	// inFlight shares one check among the pods of a scale-up that miss
	// the cache together: N pods would otherwise make 2N dry-runs through
	// every admission webhook at once and time out the outer call.
	inFlight singleflight.Group
	// failing is true while dry-runs fail, so the degraded state is
	// logged once and its recovery too.
	mu      sync.Mutex
	failing bool
	lastLog time.Time
}

// Verdict is the outcome of a check.
type Verdict struct {
	// Rejected is true when the injected pod would be rejected and the pod
	// without podtap would not.
	Rejected bool
	// TLSRejected is true when the pod with TLS capture would be rejected
	// and the pod with the plain sidecar would not.
	TLSRejected bool
	// Reason is the API server's message for the injected pod.
	Reason string
	// Cached is true when the verdict of an earlier pod was reused.
	Cached bool
	// RestartPolicyDropped is true when the API server would store
	// podtap's native sidecar without its restartPolicy (the
	// SidecarContainers gate is off): it would run as an init container
	// that never exits, and the pod would stay in Init.
	RestartPolicyDropped bool
}

// Results of podtap_webhook_admission_checks_total.
const (
	CheckPassed   = "passed"
	CheckRejected = "rejected"
	// CheckTLSRejected: the pod with TLS capture is rejected, the pod with
	// the plain sidecar admitted; it is injected without TLS capture.
	CheckTLSRejected = "tls_rejected"
	// CheckNotOurs: the pod is rejected with and without podtap.
	CheckNotOurs = "rejected_without_podtap"
	// CheckError: the dry-run failed for another reason (timeout, API
	// server error); the pod is injected.
	CheckError = "error"
)

// Check dry-runs the injected pod, and the original when that is rejected.
// withoutTLS, nil when the injected pod has no TLS capture, makes the pod
// with the plain sidecar, dry-run in between.
func (a *AdmissionCheck) Check(ctx context.Context, orig, injected *corev1.Pod, withoutTLS func() (*corev1.Pod, error)) (Verdict, error) {
	key := cacheKey(orig)
	if key != "" && withoutTLS != nil {
		// A namespace default can switch TLS capture for the same
		// template; its verdict is not the plain sidecar's.
		key += "/tls"
	}
	if v, ok := a.cache.get(key, time.Now()); ok {
		v.Cached = true
		AdmissionChecks.WithLabelValues(v.result(), "true").Inc()
		return v, nil
	}
	var v Verdict
	var err error
	shared := false
	if key == "" {
		v, err = a.check(ctx, orig, injected, withoutTLS)
	} else {
		var got any
		got, err, shared = a.inFlight.Do(key, func() (any, error) { return a.check(ctx, orig, injected, withoutTLS) })
		v, _ = got.(Verdict)
	}
	cached := strconv.FormatBool(shared)
	if err != nil {
		AdmissionChecks.WithLabelValues(CheckError, cached).Inc()
		a.degraded(err)
		return Verdict{}, err
	}
	a.recovered()
	v.Cached = shared
	AdmissionChecks.WithLabelValues(v.result(), cached).Inc()
	if key != "" && a.Config.CacheTTL > 0 {
		a.cache.put(key, v, time.Now().Add(a.Config.CacheTTL), a.Config.CacheSize)
	}
	return v, nil
}

func (a *AdmissionCheck) check(ctx context.Context, orig, injected *corev1.Pod, withoutTLS func() (*corev1.Pod, error)) (Verdict, error) {
	stored := dryRunCopy(injected)
	reason, err := a.dryRun(ctx, stored)
	if err != nil {
		return Verdict{}, err
	}
	if reason == "" {
		return Verdict{RestartPolicyDropped: lostRestartPolicy(injected, stored)}, nil
	}
	if withoutTLS != nil {
		plainSidecar, err := withoutTLS()
		if err != nil {
			return Verdict{}, err
		}
		stored := dryRunCopy(plainSidecar)
		plainReason, err := a.dryRun(ctx, stored)
		if err != nil {
			return Verdict{}, err
		}
		if plainReason == "" {
			return Verdict{TLSRejected: true, Reason: reason, RestartPolicyDropped: lostRestartPolicy(plainSidecar, stored)}, nil
		}
		// The skip is about the sidecar itself, so it names what rejects
		// the plain one.
		reason = plainReason
	}
	plain, err := a.dryRun(ctx, dryRunCopy(withoutPodtap(orig)))
	if err != nil {
		return Verdict{}, err
	}
	return Verdict{Rejected: plain == "", Reason: reason}, nil
}

func (v Verdict) result() string {
	switch {
	case v.Rejected:
		return CheckRejected
	case v.TLSRejected:
		return CheckTLSRejected
	case v.Reason != "":
		return CheckNotOurs
	}
	return CheckPassed
}

// dryRun returns the API server's reason for rejecting the pod, empty when
// it admits it, or an error when it cannot tell.
// The pod is overwritten with what the API server would store.
func (a *AdmissionCheck) dryRun(ctx context.Context, pod *corev1.Pod) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.Config.Timeout)
	defer cancel()
	err := a.Client.Create(ctx, pod, client.DryRunAll)
	switch {
	case err == nil:
		return "", nil
	case apierrors.IsForbidden(err), apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return err.Error(), nil
	}
	return "", fmt.Errorf("dry-run creating the pod: %w", err)
}

// dryRunCopy is the pod as the API server would store it, minus what the
// API server sets itself. blockOwnerDeletion is dropped from both pods
// alike: setting it needs update rights on the owner's finalizers where
// OwnerReferencesPermissionEnforcement is on (OpenShift), which the
// webhook has no reason to hold.
func dryRunCopy(pod *corev1.Pod) *corev1.Pod {
	out := pod.DeepCopy()
	out.UID = ""
	out.ResourceVersion = ""
	out.CreationTimestamp = metav1.Time{}
	out.ManagedFields = nil
	out.Status = corev1.PodStatus{}
	for i := range out.OwnerReferences {
		out.OwnerReferences[i].BlockOwnerDeletion = nil
	}
	return out
}

// lostRestartPolicy compares podtap's init container as sent and as the
// API server would store it.
func lostRestartPolicy(sent, stored *corev1.Pod) bool {
	i := indexOf(sent.Spec.InitContainers, ContainerName)
	if i < 0 || sent.Spec.InitContainers[i].RestartPolicy == nil {
		return false
	}
	j := indexOf(stored.Spec.InitContainers, ContainerName)
	return j >= 0 && stored.Spec.InitContainers[j].RestartPolicy == nil
}

// withoutPodtap labels the pod as opted out, so that the registration's
// objectSelector keeps the dry-run of the plain pod away from this
// webhook, which would otherwise inject it.
func withoutPodtap(pod *corev1.Pod) *corev1.Pod {
	out := pod.DeepCopy()
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	out.Labels[config.LabelInject] = "disabled"
	return out
}

// checkLogEvery rate-limits the WARN of a failing check.
const checkLogEvery = time.Minute

func (a *AdmissionCheck) degraded(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if a.failing && now.Sub(a.lastLog) < checkLogEvery {
		return
	}
	a.failing, a.lastLog = true, now
	a.Log.Warn("admission dry-run failed; injecting without knowing whether the pod will be admitted", "error", err)
}

func (a *AdmissionCheck) recovered() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failing {
		a.failing = false
		a.Log.Info("admission dry-run works again")
	}
}

// Labels whose value names the pod template of a controller.
var templateHashLabels = []string{"pod-template-hash", "controller-revision-hash"}

// cacheKey groups the pods that share a verdict: same namespace, same
// controller, same template. A controller that labels no template hash
// (a Job, an Argo Workflow whose steps differ) is keyed by a hash of the
// pod's spec instead, so pods that differ never share a verdict. A pod
// without a controller is not cached.
func cacheKey(pod *corev1.Pod) string {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.UID == "" {
		return ""
	}
	for _, l := range templateHashLabels {
		if v, ok := pod.Labels[l]; ok {
			return pod.Namespace + "/" + string(ref.UID) + "/" + l + "=" + v
		}
	}
	spec, err := json.Marshal(pod.Spec)
	if err != nil {
		return ""
	}
	h := fnv.New64a()
	h.Write(spec)
	return pod.Namespace + "/" + string(ref.UID) + "/spec=" + strconv.FormatUint(h.Sum64(), 16)
}
