package webhook

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podtap/podtap/config"
)

// Reasons a pod is not injected: the reason label of the metric and the
// Event's note.
const (
	// SkipNamespaceExcluded: a system namespace, the webhook's own, or one
	// in injection.excluded_namespaces.
	SkipNamespaceExcluded = "namespace_excluded"
	// SkipNamespaceNotEnabled: neither the namespace nor the pod has the
	// label podtap.io/inject=enabled (the registration's selectors
	// normally keep such pods away).
	SkipNamespaceNotEnabled = "namespace_not_enabled"
	// SkipOptedOut: the pod has podtap.io/inject=disabled, as a label or
	// an annotation.
	SkipOptedOut = "opted_out"
	// SkipHostNetwork: the pod shares the node's network; capturing there
	// would record the whole node's traffic.
	SkipHostNetwork = "host_network"
	// SkipUnsupportedOS: a Windows pod (spec.os, or a nodeSelector or
	// required node affinity on kubernetes.io/os); capture needs Linux
	// AF_PACKET, and a Linux native sidecar would block the application.
	SkipUnsupportedOS = "unsupported_os"
	// SkipPodSecurity: the namespace enforces Pod Security baseline or
	// restricted, which reject NET_RAW, and so would reject the pod.
	SkipPodSecurity = "pod_security"
	// SkipNameConflict: the pod already has a container or volume with the
	// name podtap uses, not written by podtap.
	SkipNameConflict = "name_conflict"
	// SkipJob: a Job's pod in legacy (non-native) mode, where a sidecar
	// that never exits would keep the Job running forever.
	SkipJob = "job"
	// SkipRunToCompletion: a pod with restartPolicy Never or OnFailure in
	// legacy mode, for the same reason as SkipJob.
	SkipRunToCompletion = "run_to_completion"
	// SkipAdmissionRejected: a dry-run says a later admission step (Pod
	// Security defaults, a policy, a quota) would reject the injected pod
	// and admit the pod without podtap.
	SkipAdmissionRejected = "admission_rejected"
)

// SkipReasons lists every reason, for documentation and metrics.
var SkipReasons = []string{
	SkipNamespaceExcluded, SkipNamespaceNotEnabled, SkipOptedOut, SkipHostNetwork,
	SkipUnsupportedOS, SkipPodSecurity, SkipNameConflict, SkipJob, SkipRunToCompletion,
	SkipAdmissionRejected,
}

// Skip says why a pod is not injected.
type Skip struct {
	Reason string
	Detail string
	// Repeated is true when an earlier pass over the same pod decided the
	// skip, so it is neither counted nor reported again.
	Repeated bool
}

func (s *Skip) String() string { return s.Reason + ": " + s.Detail }

// intentional reports whether the skip is what the user asked for, so that
// no admission warning is shown for it.
func (s *Skip) intentional() bool {
	switch s.Reason {
	case SkipNamespaceExcluded, SkipNamespaceNotEnabled, SkipOptedOut:
		return true
	}
	return false
}

// podSecurityEnforce is the Pod Security admission label of a namespace.
const podSecurityEnforce = "pod-security.kubernetes.io/enforce"

// skipBefore decides the skips that do not depend on the pod's settings.
func skipBefore(cfg *config.Webhook, ns *corev1.Namespace, pod *corev1.Pod) *Skip {
	if slices.Contains(cfg.Excluded(), ns.Name) {
		return &Skip{Reason: SkipNamespaceExcluded, Detail: fmt.Sprintf("namespace %q is excluded from injection", ns.Name)}
	}
	if ns.Labels[config.LabelInject] != injectEnabled && !optedIn(ns, pod) {
		return &Skip{Reason: SkipNamespaceNotEnabled, Detail: fmt.Sprintf("namespace %q does not have the label %s=enabled, nor the pod", ns.Name, config.LabelInject)}
	}
	if how, ok := optedOut(pod); ok {
		return &Skip{Reason: SkipOptedOut, Detail: fmt.Sprintf("the pod has the %s %s=disabled", how, config.LabelInject)}
	}
	if st, ok := readSkipped(pod); ok {
		return &Skip{Reason: SkipAdmissionRejected, Detail: st.Skipped, Repeated: true}
	}
	if pod.Spec.HostNetwork {
		return &Skip{Reason: SkipHostNetwork, Detail: "the pod uses the host network"}
	}
	if os, how := podOS(pod); os != "" && os != string(corev1.Linux) {
		return &Skip{Reason: SkipUnsupportedOS, Detail: fmt.Sprintf("the pod runs on %s (%s); capture needs Linux", os, how)}
	}
	switch level := ns.Labels[podSecurityEnforce]; level {
	case "baseline", "restricted":
		return &Skip{Reason: SkipPodSecurity, Detail: fmt.Sprintf("namespace %q enforces Pod Security %q, which rejects the NET_RAW capability", ns.Name, level)}
	}
	if name, ok := nameConflict(pod); ok {
		return &Skip{Reason: SkipNameConflict, Detail: fmt.Sprintf("the pod already has %s, not injected by podtap", name)}
	}
	return nil
}

// nameConflict finds a container or volume with podtap's name that an
// earlier podtap pass did not write.
func nameConflict(pod *corev1.Pod) (string, bool) {
	status, injected := readStatus(pod)
	ours := func(name string) bool { return injected && name == status.Container }
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range list {
			if c.Name == ContainerName && !ours(c.Name) {
				return fmt.Sprintf("a container named %q", c.Name), true
			}
		}
	}
	for _, v := range pod.Spec.Volumes {
		if slices.Contains(podtapVolumes, v.Name) && !injected {
			return fmt.Sprintf("a volume named %q", v.Name), true
		}
	}
	return "", false
}

// skipLegacy decides the skips of legacy mode: a regular container never
// exits, so a pod meant to finish would not.
func skipLegacy(pod *corev1.Pod) *Skip {
	if ref := metav1.GetControllerOf(pod); ref != nil && ref.Kind == "Job" && groupOf(ref.APIVersion) == "batch" {
		return &Skip{Reason: SkipJob, Detail: fmt.Sprintf("the pod belongs to Job %q and native sidecars are off; the sidecar would keep the Job from completing", ref.Name)}
	}
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure:
		return &Skip{Reason: SkipRunToCompletion, Detail: fmt.Sprintf("the pod has restartPolicy %s and native sidecars are off; the sidecar would keep it from completing", pod.Spec.RestartPolicy)}
	}
	return nil
}

func groupOf(apiVersion string) string {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return ""
	}
	return gv.Group
}

// osLabel is the node label the kubelet sets to its operating system.
const osLabel = "kubernetes.io/os"

// podOS is the operating system a pod asks for, and where it says so.
// Many Windows workloads predate spec.os and select their nodes instead.
// A required affinity counts when every term allows only non-Linux
// systems; a term that allows Linux leaves the pod schedulable there.
func podOS(pod *corev1.Pod) (string, string) {
	if pod.Spec.OS != nil {
		return string(pod.Spec.OS.Name), "spec.os"
	}
	if os, ok := pod.Spec.NodeSelector[osLabel]; ok {
		return os, "nodeSelector " + osLabel
	}
	aff := pod.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return "", ""
	}
	terms := aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	other := ""
	for _, term := range terms {
		os := termOS(term)
		if os == "" || os == string(corev1.Linux) {
			return "", ""
		}
		other = os
	}
	return other, "required node affinity on " + osLabel
}

// termOS is the one system a node selector term allows, "" when it
// allows Linux or does not restrict the system.
func termOS(term corev1.NodeSelectorTerm) string {
	for _, e := range term.MatchExpressions {
		if e.Key == osLabel && e.Operator == corev1.NodeSelectorOpIn && !slices.Contains(e.Values, string(corev1.Linux)) && len(e.Values) > 0 {
			return e.Values[0]
		}
	}
	return ""
}
