package webhook

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/podtap/podtap/config"
)

// TLSOff says why a pod that asked for TLS capture (podtap.io/tls, or
// sidecar.settings.capture.tls) is injected without it: with the plain
// NET_RAW sidecar, which captures everything but the plaintext of TLS.
type TLSOff struct {
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

func (o *TLSOff) String() string { return o.Reason + ": " + o.Detail }

// Reasons of TLSOff, also the reason label of podtap_webhook_pods_total
// for such injections.
const (
	// TLSOffForbidden: injection.allow_tls_capture (the chart's
	// webhook.allowTLSCapture) is off.
	TLSOffForbidden = "tls_forbidden"
	// TLSOffAdmissionRejected: a dry-run says a later admission step (Pod
	// Security defaults, a ValidatingAdmissionPolicy, Kyverno, Gatekeeper)
	// would reject the sidecar's TLS capabilities and admit the plain one.
	TLSOffAdmissionRejected = "tls_admission_rejected"
	// TLSOffTunnelMode: the pod's sidecar runs in tunnel mode, which sends
	// packets to the receiver; TLS plaintext is not packets, so it could
	// not go with them.
	TLSOffTunnelMode = "tls_tunnel_mode"
)

// TLSOffReasons lists every reason, for metrics.
var TLSOffReasons = []string{TLSOffForbidden, TLSOffAdmissionRejected, TLSOffTunnelMode}

// tlsForbiddenReason is why a podtap.io/tls value is ignored when TLS
// capture is forbidden.
const tlsForbiddenReason = "TLS capture is forbidden in this cluster (injection.allow_tls_capture is off)"

// tlsTunnelReason is why a tunnel-mode pod gets no TLS capture, and no
// capabilities for it.
const tlsTunnelReason = "TLS capture needs mode parse: in tunnel mode (podtap.io/mode: tunnel) the sidecar only forwards packets, and TLS plaintext is not in them"

// withTLSOff is the pod with podtap.io/tls: off, which wins over every
// other TLS setting. The admission check dry-runs it injected: the dry-run
// comes back into this webhook, which must inject the same plain sidecar
// again, not the TLS capture the pod asked for.
func withTLSOff(pod *corev1.Pod) *corev1.Pod {
	out := pod.DeepCopy()
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[config.AnnotationTLS] = config.DefaultSidecar().Capture.TLS
	return out
}

// tlsRejectedDetail is the status's detail for a pod whose TLS capture the
// admission chain rejects.
func tlsRejectedDetail(apiReason string) string {
	d := fmt.Sprintf("the API server would reject the sidecar with the TLS capture capabilities %s, so it is injected without TLS capture: %s",
		strings.Join(config.TLSCaptureCapabilities, ", "), apiReason)
	if len(d) > maxNote {
		d = d[:maxNote-3] + "..."
	}
	return d
}

// decideTLS picks the TLS libraries the sidecar captures, none when the
// pod did not ask, or why it asked and gets none.
func decideTLS(s PodSettings, c Cluster, pod *corev1.Pod) ([]string, *TLSOff) {
	if s.TLSForbidden {
		return nil, &TLSOff{Reason: TLSOffForbidden, Detail: tlsForbiddenReason}
	}
	// Resolve accepted the value, through the sidecar's own validation.
	libs, _ := config.ParseTLS(s.Sidecar.Capture.TLS)
	if len(libs) == 0 {
		return nil, nil
	}
	if s.Sidecar.Mode == config.ModeTunnel {
		return nil, &TLSOff{Reason: TLSOffTunnelMode, Detail: tlsTunnelReason}
	}
	if c.TLSRejected != "" {
		return nil, &TLSOff{Reason: TLSOffAdmissionRejected, Detail: c.TLSRejected}
	}
	// A reinvocation runs no admission check: the first pass's verdict,
	// in the status it wrote, still holds.
	if st, ok := readStatus(pod); ok && writtenThisAdmission(pod) && st.TLSOff != nil && st.TLSOff.Reason == TLSOffAdmissionRejected {
		return nil, st.TLSOff
	}
	return libs, nil
}

// tlsSetting is capture.tls as the sidecar gets it: the libraries in their
// canonical order, or "off".
func tlsSetting(libs []string) string {
	if len(libs) == 0 {
		return config.DefaultSidecar().Capture.TLS
	}
	return strings.Join(libs, ",")
}

// tlsCapabilities are the capabilities the sidecar adds besides NET_RAW.
func tlsCapabilities(libs []string) []corev1.Capability {
	if len(libs) == 0 {
		return nil
	}
	caps := make([]corev1.Capability, len(config.TLSCaptureCapabilities))
	for i, c := range config.TLSCaptureCapabilities {
		caps[i] = corev1.Capability(c)
	}
	return caps
}

// shareProcesses lets the sidecar see the application's processes, whose
// TLS libraries it probes. A hostPID pod already sees them (and the API
// server refuses both set together).
func shareProcesses(pod *corev1.Pod, libs []string) {
	if len(libs) == 0 || pod.Spec.HostPID {
		return
	}
	pod.Spec.ShareProcessNamespace = ptr.To(true)
}
