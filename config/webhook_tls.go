package config

import "fmt"

// validateTLSCapture refuses a cluster-wide capture.tls that
// injection.allow_tls_capture forbids: the webhook would otherwise have to
// pick one of the two silently for every pod.
func (c *Webhook) validateTLSCapture() []error {
	if c.Injection.AllowTLSCapture {
		return nil
	}
	libs, err := ParseTLS(c.Sidecar.Settings.Capture.TLS)
	if err != nil || len(libs) == 0 {
		// sidecar.settings' own validation names a bad value.
		return nil
	}
	return []error{fmt.Errorf("sidecar.settings.capture.tls: %q needs injection.allow_tls_capture: true; set it to \"off\" or allow TLS capture", c.Sidecar.Settings.Capture.TLS)}
}
