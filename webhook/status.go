package webhook

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/podtap/podtap/config"
)

// Names of what the webhook adds to a pod.
const (
	// ContainerName is the injected container.
	ContainerName = "podtap"
	// SpoolVolumeName is the emptyDir holding the Kafka spool.
	SpoolVolumeName = "podtap-spool"
	// SpoolMountPath is where the spool is mounted unless
	// sidecar.settings.kafka.spool.dir names another directory.
	SpoolMountPath = "/var/lib/podtap/spool"
	// KafkaVolumeName is the projected volume of the namespace's Kafka
	// Secrets (sidecar.kafka_secrets).
	KafkaVolumeName = "podtap-kafka"
	// KafkaMountPath is where it is mounted: tls/ca.crt, tls/tls.crt,
	// tls/tls.key, sasl/username and sasl/password.
	KafkaMountPath = "/etc/podtap/kafka"
	// MetricsPortName names the sidecar's /metrics, /healthz and /readyz port.
	MetricsPortName = "podtap-metrics"
	// DefaultContainerAnnotation tells kubectl which container to use when
	// none is named; the webhook points it at the application.
	DefaultContainerAnnotation = "kubectl.kubernetes.io/default-container"
)

// Status is the JSON of the podtap.io/status annotation: what the webhook
// injected, for users and for the webhook's own next pass.
type Status struct {
	Version   string `json:"version"`
	Container string `json:"container,omitempty"`
	Interface string `json:"interface,omitempty"`
	Native    bool   `json:"native"`
	// Skipped says why a pod that would have been injected was not, when
	// the reason is only known from the admission check; the pod then has
	// no container.
	Skipped string `json:"skipped,omitempty"`
}

func (s Status) encode() (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encoding %s: %w", config.AnnotationStatus, err)
	}
	return string(b), nil
}

// readStatus returns the status of an earlier pass, if the pod has one.
func readStatus(pod *corev1.Pod) (Status, bool) {
	raw, ok := pod.Annotations[config.AnnotationStatus]
	if !ok {
		return Status{}, false
	}
	var s Status
	if err := json.Unmarshal([]byte(raw), &s); err != nil || s.Container == "" {
		return Status{}, false
	}
	return s, true
}

// readSkipped returns the status of an earlier pass that skipped the pod.
func readSkipped(pod *corev1.Pod) (Status, bool) {
	raw, ok := pod.Annotations[config.AnnotationStatus]
	if !ok {
		return Status{}, false
	}
	var s Status
	if err := json.Unmarshal([]byte(raw), &s); err != nil || s.Container != "" || s.Skipped == "" {
		return Status{}, false
	}
	return s, true
}
