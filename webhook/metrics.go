package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/podtap/podtap/config"
)

// Results of podtap_webhook_pods_total.
const (
	ResultInjected = "injected"
	ResultSkipped  = "skipped"
	ResultError    = "error"
)

// Reasons of errors in podtap_webhook_pods_total{result="error"}: the step
// that failed. The pod is admitted unmutated in every case.
const (
	ErrorDecode    = "decode"
	ErrorNamespace = "namespace"
	ErrorMutate    = "mutate"
	ErrorPanic     = "panic"
)

var (
	// Pods counts pod admissions by result and reason: the skip reason,
	// the failed step, or for an injection that left out the TLS capture
	// the pod asked for, why (TLSOffReasons); empty for a full injection.
	Pods = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_webhook_pods_total",
		Help: "Pods admitted by the webhook, by result (injected, skipped, error) and reason (skip reason, failed step, or tls_forbidden/tls_admission_rejected for an injection without the TLS capture asked for).",
	}, []string{"result", "reason"})
	// InvalidAnnotations counts ignored annotation values by key; keys
	// outside podtap's table count as "unknown" to bound the label values.
	InvalidAnnotations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_webhook_invalid_annotations_total",
		Help: "podtap.io annotation values ignored as invalid, by annotation.",
	}, []string{"annotation"})
	// AdmissionChecks counts the dry-runs of injected pods by result, and
	// whether an earlier pod's verdict was reused.
	AdmissionChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_webhook_admission_checks_total",
		Help: "Admission dry-runs of injected pods, by result (passed, rejected, tls_rejected, rejected_without_podtap, error) and cached (true, false).",
	}, []string{"result", "cached"})
	// NativeSidecars is 1 when the API server supports native sidecars.
	NativeSidecars = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "podtap_webhook_native_sidecars",
		Help: "1 when the API server supports native sidecars (Kubernetes 1.29+), else 0.",
	})
)

func init() {
	crmetrics.Registry.MustRegister(Pods, InvalidAnnotations, AdmissionChecks, NativeSidecars)
	// Every series exists from the start, so a rate over a reason that has
	// not happened yet reads 0 rather than nothing.
	Pods.WithLabelValues(ResultInjected, "")
	for _, r := range TLSOffReasons {
		Pods.WithLabelValues(ResultInjected, r)
	}
	for _, r := range SkipReasons {
		Pods.WithLabelValues(ResultSkipped, r)
	}
	for _, r := range []string{ErrorDecode, ErrorNamespace, ErrorMutate, ErrorPanic} {
		Pods.WithLabelValues(ResultError, r)
	}
	for _, r := range []string{CheckPassed, CheckRejected, CheckTLSRejected, CheckNotOurs, CheckError} {
		for _, cached := range []string{"true", "false"} {
			AdmissionChecks.WithLabelValues(r, cached)
		}
	}
	for _, a := range config.Annotations {
		InvalidAnnotations.WithLabelValues(a.Key)
	}
}

func countInvalid(invalid []Invalid) {
	for _, i := range invalid {
		key := i.Key
		if _, known := config.LookupAnnotation(key); !known {
			key = "unknown"
		}
		InvalidAnnotations.WithLabelValues(key).Inc()
	}
}
