package webhook

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/podtap/podtap/config"
)

// execProbe runs `podtap-sidecar probe KIND` in the sidecar, which asks its
// endpoint on the sidecar's abstract unix socket (metrics.HealthSocket). Kubelet HTTP probes arrive on eth0, where Istio
// STRICT mTLS redirects them into a proxy that refuses plaintext; Istio
// rewrites probes only of containers present when its injector runs, and
// it runs before podtap without reinvocation. An exec probe needs no
// rewrite, whatever the mesh or its order.
func execProbe(kind string) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{
			Command: []string{config.SidecarBinary, config.ProbeCommand, kind},
		}},
		TimeoutSeconds:   2,
		PeriodSeconds:    10,
		SuccessThreshold: 1,
		FailureThreshold: 3,
	}
}

// startupProbe holds the containers after a native sidecar until capture
// runs, at most config.StartupWait: the command itself waits and always
// succeeds, so the kubelet's own timeout sits above it.
func startupProbe() *corev1.Probe {
	p := execProbe(config.ProbeStartup)
	p.TimeoutSeconds = int32(config.StartupWait/time.Second) + 5
	p.PeriodSeconds = 1
	return p
}
