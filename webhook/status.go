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
	// TLS is the comma list of libraries whose TLS plaintext the sidecar
	// captures (its capture.tls); empty when TLS capture is off.
	TLS string `json:"tls,omitempty"`
	// TLSOff says why a pod that asked for TLS capture has none.
	TLSOff *TLSOff `json:"tlsOff,omitempty"`
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
// It says what podtap's container in the pod is, whoever wrote it; whether
// it was written in this admission is writtenThisAdmission's business.
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

// readSkipped returns the status of an earlier pass of this admission that
// skipped the pod. A skip copied from another pod (a pod's YAML applied
// again, kubectl debug --copy-to, a template made from a pod) is not
// trusted: the reason it records was true of another pod, at another time.
func readSkipped(pod *corev1.Pod) (Status, bool) {
	raw, ok := pod.Annotations[config.AnnotationStatus]
	if !ok || !writtenThisAdmission(pod) {
		return Status{}, false
	}
	var s Status
	if err := json.Unmarshal([]byte(raw), &s); err != nil || s.Container != "" || s.Skipped == "" {
		return Status{}, false
	}
	return s, true
}

// writtenThisAdmission reports whether the pod's podtap.io/status was
// written by podtap earlier in this same admission (a reinvocation), not
// sent by whoever creates the pod.
//
// The API server records the fields of the object it was sent in
// managedFields before it calls any mutating webhook, and webhook patches
// are not added to them: so a status the creator sent is listed there,
// and one podtap's first pass added is not. The request's UID cannot tell
// the two apart: the API server gives each webhook call a fresh UID, the
// reinvocation too. A pod without managedFields (a client that bypasses
// the API server's field manager, or a test) trusts the status, as before.
func writtenThisAdmission(pod *corev1.Pod) bool {
	if _, ok := pod.Annotations[config.AnnotationStatus]; !ok {
		return false
	}
	for _, mf := range pod.ManagedFields {
		if mf.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Metadata struct {
				Annotations map[string]json.RawMessage `json:"f:annotations"`
			} `json:"f:metadata"`
		}
		if err := json.Unmarshal(mf.FieldsV1.Raw, &fields); err != nil {
			// Unreadable ownership cannot vouch for the status.
			return false
		}
		if _, sent := fields.Metadata.Annotations["f:"+config.AnnotationStatus]; sent {
			return false
		}
	}
	return true
}
