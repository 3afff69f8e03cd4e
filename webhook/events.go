package webhook

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// EventRecorder is the part of controller-runtime's events.k8s.io recorder
// the webhook uses.
type EventRecorder interface {
	Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any)
}

// Event reasons.
const (
	EventInjected          = "Injected"
	EventSkipped           = "Skipped"
	EventInvalidAnnotation = "InvalidAnnotation"
	EventFailed            = "InjectionFailed"
)

// eventAction is the events.k8s.io action of every podtap Event.
const eventAction = "Inject"

// maxNote keeps a note under the 1 KiB the Events API accepts.
const maxNote = 1000

// eventTarget is the object an Event about an admitted pod is attached to.
// The pod does not exist yet and usually has no name, so its controller
// (the ReplicaSet, the Job...) carries the Event; a bare pod with a name
// gets it directly, and anything else its namespace.
func eventTarget(pod *corev1.Pod) *corev1.ObjectReference {
	if ref := metav1.GetControllerOf(pod); ref != nil {
		return &corev1.ObjectReference{
			APIVersion: ref.APIVersion,
			Kind:       ref.Kind,
			Name:       ref.Name,
			Namespace:  pod.Namespace,
			UID:        ref.UID,
		}
	}
	if pod.Name != "" {
		return &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, Namespace: pod.Namespace}
	}
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Namespace", Name: pod.Namespace}
}

func emit(rec EventRecorder, pod *corev1.Pod, eventtype, reason, note string) {
	if len(note) > maxNote {
		note = note[:maxNote-3] + "..."
	}
	rec.Eventf(eventTarget(pod), nil, eventtype, reason, eventAction, "%s", note)
}

func invalidNote(invalid []Invalid) string {
	parts := make([]string, len(invalid))
	for i, inv := range invalid {
		parts[i] = inv.String()
	}
	return strings.Join(parts, "; ")
}
