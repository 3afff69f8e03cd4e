// Package metrics holds podtap-sidecar's Prometheus collectors and the drop
// reasons. Every stage counts here; nothing is dropped without a reason.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry is the sidecar's registry, served on /metrics.
var Registry = prometheus.NewRegistry()

// Drop reasons of podtap_pairs_dropped_total. Filter reasons are the seed
// design's; the others say where in the pipeline a pair was lost.
const (
	ReasonTooLarge        = "too_large"         // a message or the pair exceeds its size limit
	ReasonResponseTimeout = "response_timeout"  // no response within pairing.response_timeout
	ReasonNoResponse      = "no_response"       // the connection ended before the response
	ReasonNoRequest       = "no_request"        // a response whose request was never seen
	ReasonGap             = "gap"               // bytes lost in the capture cut the message
	ReasonParseError      = "parse_error"       // malformed HTTP
	ReasonPendingLimit    = "pending_limit"     // pairing.max_pending_per_conn exceeded
	ReasonContentType     = "content_type"      // neither half has an accepted content type
	ReasonInternal        = "internal"          // kube-probe or podtap's own requests
	ReasonStatus          = "status"            // a dropped status (301, 308, 4xx, 5xx)
	ReasonPath            = "path"              // a dropped path
	ReasonGRPCNoSchema    = "grpc_no_schema"    // no descriptor for the method
	ReasonGRPCEncoding    = "grpc_encoding"     // an unsupported grpc-encoding
	ReasonGRPCPendingFull = "grpc_pending_full" // too many pairs waiting for a schema
	ReasonQueueFull       = "queue_full"        // the sink's queue is full and it has no spool
	ReasonSinkError       = "sink_error"        // the sink failed to write the pair
	ReasonSpoolFull       = "spool_full"        // the Kafka spool dropped its oldest segment
	ReasonKafkaTooLarge   = "kafka_too_large"   // the broker rejected the record as too large
	ReasonEncode          = "encode"            // the pair could not be encoded
	ReasonShutdown        = "shutdown"          // the grace period ended before the pair was sent
	ReasonSpoolCorrupt    = "spool_corrupt"     // a spooled pair was torn by a crash or lost with a corrupt segment
)

var (
	// Pairs counts pairs handed to the sink.
	Pairs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_pairs_total",
		Help: "Pairs emitted to the sink, by protocol.",
	}, []string{"protocol"})
	// PairsDropped counts pairs dropped, by reason.
	PairsDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_pairs_dropped_total",
		Help: "Pairs dropped, by reason.",
	}, []string{"reason"})
	// Packets counts packets read from the capture source.
	Packets = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podtap_packets_total",
		Help: "Packets read from the capture source.",
	})
	// Bytes counts packet bytes read from the capture source.
	Bytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podtap_bytes_total",
		Help: "Packet bytes read from the capture source.",
	})
	// PacketsIgnored counts packets not decoded into a TCP segment, by reason.
	PacketsIgnored = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_packets_ignored_total",
		Help: "Packets that carried no usable TCP segment, by reason.",
	}, []string{"reason"})
	// KernelDrops counts packets the kernel dropped before podtap read them.
	KernelDrops = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podtap_kernel_drops_total",
		Help: "Packets dropped by the kernel (AF_PACKET ring or vxlan socket buffer full).",
	})
	// Connections is the number of tracked TCP connections.
	Connections = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "podtap_connections",
		Help: "TCP connections currently tracked.",
	})
	// ConnectionsTotal counts connections by what they turned out to be.
	ConnectionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_connections_total",
		Help: "TCP connections seen, by detected protocol (http1, http2, tls, ignored, sampled_out, over_limit).",
	}, []string{"protocol"})
	// ConnectionsShed counts connections shed at the connection cap: a
	// tracked one evicted to make room, or a new one refused.
	ConnectionsShed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_connections_shed_total",
		Help: "TCP connections shed at the connection cap or under memory pressure, by reason (evicted, refused, memory_pressure).",
	}, []string{"reason"})
	// ReassemblyBytes is the out-of-order data buffered by reassembly.
	ReassemblyBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "podtap_reassembly_buffered_bytes",
		Help: "Out-of-order TCP data held by reassembly.",
	})
	// GapBytes counts bytes skipped in reassembly, by cause.
	GapBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_reassembly_gap_bytes_total",
		Help: "TCP bytes never seen or skipped (lost, or over a memory cap), by cause.",
	}, []string{"cause"})
	// ParseErrors counts malformed input by protocol and kind.
	ParseErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_parse_errors_total",
		Help: "Malformed input, by protocol and kind; each is followed by a resync.",
	}, []string{"protocol", "kind"})
)

func init() {
	Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		Pairs, PairsDropped, Packets, Bytes, PacketsIgnored, KernelDrops,
		Connections, ConnectionsTotal, ConnectionsShed, ReassemblyBytes, GapBytes, ParseErrors,
	)
}

// Drop counts one dropped pair.
func Drop(reason string) { PairsDropped.WithLabelValues(reason).Inc() }

// Reasons of podtap_tls_connections_total: why podtap could not read a TLS
// connection's plaintext. TLS capture (capture.tls) adds its own when it
// sees a connection but cannot decrypt it.
const (
	// TLSCaptureOff: TLS capture is off, so only the ClientHello is read.
	TLSCaptureOff = "capture_off"
	// TLSNotProbed: TLS capture is on, but no plaintext of the connection
	// came by its end: its process's library is not supported or not
	// probed (yet).
	TLSNotProbed = "not_probed"
)

// TLSConnections counts TLS connections podtap saw but could not read, by
// server (address:port), SNI, ALPN offered and reason. The parse stage
// bounds the label sets; past the bound they count under "other".
var TLSConnections = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "podtap_tls_connections_total",
	Help: "TLS connections whose plaintext podtap could not read, by server, SNI and ALPN of the ClientHello, and reason (capture_off, not_probed).",
}, []string{"server", "sni", "alpn", "reason"})

func init() { Registry.MustRegister(TLSConnections) }
