package config

import (
	"fmt"
	"time"
)

// AdmissionCheck configures the dry-run the webhook makes of an injected
// pod before it admits it. A Pod Security default in the API server's
// AdmissionConfiguration, a policy engine or a ResourceQuota can reject
// what podtap adds (NET_RAW, a container without a CPU limit) where the
// pod alone would pass; the webhook then creates the pod without the
// sidecar instead of costing the workload its pod. The check needs the
// webhook to create pods (dry-run only, which RBAC cannot express).
type AdmissionCheck struct {
	// Enabled turns the check on. Off, an injected pod that a later
	// admission step rejects is not created. Default true.
	Enabled bool `mapstructure:"enabled"`
	// Timeout bounds one dry-run request. A check makes at most two (the
	// injected pod, then the pod as it came), three when
	// injection.allow_tls_capture is on (the pod with TLS capture, then
	// with the plain sidecar, then as it came); all must fit in
	// registration.timeout. On a timeout the pod is injected as before.
	// Default 1500ms.
	Timeout time.Duration `mapstructure:"timeout"`
	// CacheTTL is how long a verdict is reused for the pods of one owner
	// and pod template (pod-template-hash or controller-revision-hash), so
	// that a ReplicaSet's hundred pods cost one check. Default 2m.
	CacheTTL time.Duration `mapstructure:"cache_ttl"`
	// CacheSize bounds the verdicts kept. Default 4096.
	CacheSize int `mapstructure:"cache_size"`
}

// DefaultAdmissionCheck returns the defaults documented on the fields.
func DefaultAdmissionCheck() AdmissionCheck {
	return AdmissionCheck{Enabled: true, Timeout: 1500 * time.Millisecond, CacheTTL: 2 * time.Minute, CacheSize: 4096}
}

func (a AdmissionCheck) validate(registrationTimeout time.Duration, tlsCapture bool) []error {
	if !a.Enabled {
		return nil
	}
	var errs []error
	// Every dry-run and the webhook's own work must end before the API
	// server gives up on the admission call.
	if n := a.DryRuns(tlsCapture); a.Timeout <= 0 || time.Duration(n)*a.Timeout >= registrationTimeout {
		why := ""
		if tlsCapture {
			why = " (injection.allow_tls_capture adds a dry-run of the plain sidecar)"
		}
		errs = append(errs, fmt.Errorf("injection.admission_check.timeout: %v is not accepted; want a positive duration below 1/%d of registration.timeout (%v)%s", a.Timeout, n, registrationTimeout, why))
	}
	if a.CacheTTL < 0 {
		errs = append(errs, fmt.Errorf("injection.admission_check.cache_ttl: %v is not accepted; want 0 (no cache) or a positive duration", a.CacheTTL))
	}
	if a.CacheSize < 1 {
		errs = append(errs, fmt.Errorf("injection.admission_check.cache_size: %d is not accepted; want at least 1", a.CacheSize))
	}
	return errs
}

// DryRuns is the most dry-runs one check makes.
func (a AdmissionCheck) DryRuns(tlsCapture bool) int {
	if tlsCapture {
		return 3
	}
	return 2
}

// runAsRootReason is why sidecar.run_as_user must be 0. A capability the
// container adds reaches a non-root process only as a file capability of
// its binary, and the container's allowPrivilegeEscalation: false (no_new_privs,
// which restricted policies demand) makes the kernel ignore file
// capabilities; Kubernetes cannot grant ambient capabilities. A non-root
// sidecar could not open its AF_PACKET socket and would capture nothing.
const runAsRootReason = "a non-root sidecar cannot hold NET_RAW: allowPrivilegeEscalation false makes the kernel ignore file capabilities, and Kubernetes grants no ambient ones"
