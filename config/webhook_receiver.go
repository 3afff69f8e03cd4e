package config

import "strconv"

// WebhookReceiver names the central receiver that tunnel-mode sidecars
// send their packets to.
type WebhookReceiver struct {
	// Service is the receiver's UDP Service, in Namespace. Tunnel-mode
	// sidecars send to <service>.<namespace>.svc:4789 unless
	// sidecar.settings.tunnel.target names another receiver. Default
	// "podtap-receiver".
	Service string `mapstructure:"service"`
}

// ReceiverTarget is the tunnel target of the receiver's Service: its DNS
// name in the cluster and the VXLAN port.
func (c *Webhook) ReceiverTarget() string {
	return c.Receiver.Service + "." + c.Namespace + ".svc:" + strconv.Itoa(VXLANPort)
}
