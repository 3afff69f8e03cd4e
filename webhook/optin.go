package webhook

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/podtap/podtap/config"
)

// Values of podtap.io/inject, as a label or an annotation.
const (
	injectEnabled  = "enabled"
	injectDisabled = "disabled"
)

// optedOut reports how a pod opted out: the label, which keeps the
// webhook from being called at all, or the annotation, which Linkerd users
// write by habit and which only the webhook itself can read.
func optedOut(pod *corev1.Pod) (string, bool) {
	if pod.Labels[config.LabelInject] == injectDisabled {
		return "label", true
	}
	if pod.Annotations[config.LabelInject] == injectDisabled {
		return "annotation", true
	}
	return "", false
}

// optedIn reports whether the pod asks for the sidecar in a namespace that
// does not: the label only, because the registration's objectSelector can
// only select labels, and calling the webhook for every pod of the cluster
// to read an annotation would put it in the path of every pod creation. A
// namespace labelled disabled wins over its pods.
func optedIn(ns *corev1.Namespace, pod *corev1.Pod) bool {
	return pod.Labels[config.LabelInject] == injectEnabled && ns.Labels[config.LabelInject] != injectDisabled
}

// injectValueInvalid flags a podtap.io/inject value on the pod that means
// nothing, such as "false", instead of ignoring it silently.
func injectValueInvalid(pod *corev1.Pod) []Invalid {
	var out []Invalid
	for _, src := range []struct {
		what string
		m    map[string]string
	}{{"a label", pod.Labels}, {"an annotation", pod.Annotations}} {
		v, ok := src.m[config.LabelInject]
		if !ok || v == injectEnabled || v == injectDisabled {
			continue
		}
		out = append(out, Invalid{Key: config.LabelInject, Value: v, Origin: FromPod,
			Reason: fmt.Sprintf("as %s it must be %q or %q", src.what, injectEnabled, injectDisabled)})
	}
	return out
}
