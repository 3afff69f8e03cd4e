package config

import "fmt"

// validateImagePullSecrets checks sidecar.image_pull_secrets. A pod pulls
// every image with the pod's own imagePullSecrets, Secrets of its own
// namespace; so for a private registry each opted-in namespace provides a
// Secret of that name, as with sidecar.kafka_secrets. A missing Secret
// never blocks the pod: the kubelet warns and pulls without it.
func validateImagePullSecrets(names []string) []error {
	var errs []error
	for _, n := range names {
		if len(n) > 253 || !secretName.MatchString(n) {
			errs = append(errs, fmt.Errorf("sidecar.image_pull_secrets: %q is not accepted; want Secret names", n))
		}
	}
	return errs
}
