package webhook

import "github.com/podtap/podtap/config"

// forMode keeps of the settings what the pod's mode uses. A tunnel-mode
// sidecar sends packets to the receiver and ships no pairs itself, so it
// gets no sink (no Kafka env, spool or Secrets to mount); a parse-mode
// sidecar tunnels nothing, so the tunnel's settings (the receiver's
// address, which the webhook always fills) stay off its env.
func forMode(sc config.Sidecar) config.Sidecar {
	def := config.DefaultSidecar()
	if sc.Mode == config.ModeTunnel {
		sc.Sink, sc.Kafka = def.Sink, def.Kafka
		return sc
	}
	sc.Tunnel = def.Tunnel
	return sc
}
