package config

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// The webhook resolves each pod's annotations (webhook.Resolve) with the
// sidecar's own rules, so that it accepts exactly what the sidecar accepts.

// Check runs the annotation's own syntax check: what the sidecar's
// validation cannot know, such as names the webhook renders into the pod.
func (a Annotation) Check(value string) error {
	if a.check == nil {
		return nil
	}
	return a.check(value)
}

// ApplySetting returns base with the setting key set to value, read and
// validated as the sidecar reads its env; on error base is unchanged and
// the error names the setting without the "config: " prefix.
func ApplySetting(base Sidecar, key, value string) (Sidecar, error) {
	cfg := base
	if err := load(Source{Env: []string{EnvName(key) + "=" + value}}, &cfg); err != nil {
		return base, trimConfigPrefix(err)
	}
	if err := cfg.Validate(); err != nil {
		return base, trimConfigPrefix(err)
	}
	return cfg, nil
}

func trimConfigPrefix(err error) error {
	return fmt.Errorf("%s", strings.ReplaceAll(strings.TrimPrefix(err.Error(), "config: "), "\n", "; "))
}

// ParseQuantity parses a positive resource quantity as admission accepts
// it: no exponent so large that arithmetic on it stalls.
func ParseQuantity(s string) (resource.Quantity, error) {
	return parsePositiveQuantity(s)
}
