package tunnel

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podtap/podtap/sidecar/metrics"
)

// Reasons of podtap_tunnel_drops_total.
const (
	// ReasonUnresolved: tunnel.target's name has no address (yet).
	ReasonUnresolved = "unresolved"
	// ReasonSendBufferFull: the socket's send buffer was full; the packet
	// is dropped rather than the capture stalled.
	ReasonSendBufferFull = "send_buffer_full"
	// ReasonUnreachable: the receiver's host answered "port unreachable"
	// or the network has no route to it.
	ReasonUnreachable = "unreachable"
	// ReasonTooLarge: the datagram exceeds what the path or UDP carries.
	ReasonTooLarge = "too_large"
	// ReasonSendError: any other error of the send.
	ReasonSendError = "send_error"
)

var (
	datagrams = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podtap_tunnel_datagrams_total",
		Help: "VXLAN datagrams sent to tunnel.target (tunnel mode).",
	})
	datagramBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podtap_tunnel_bytes_total",
		Help: "UDP payload bytes (VXLAN header and inner frame) sent to tunnel.target (tunnel mode).",
	})
	segmented = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podtap_tunnel_segmented_packets_total",
		Help: "Captured TCP packets larger than tunnel.segment_bytes, cut into segments before sending (tunnel mode).",
	})
	drops = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_tunnel_drops_total",
		Help: "Captured packets not sent to tunnel.target, by reason (unresolved, send_buffer_full, unreachable, too_large, send_error).",
	}, []string{"reason"})
)

func init() {
	metrics.Registry.MustRegister(datagrams, datagramBytes, segmented, drops)
}
