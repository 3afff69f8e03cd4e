package metrics

import "github.com/prometheus/client_golang/prometheus"

// Reasons of podtap_tls_events_lost_total: plaintext of TLS capture that
// never reached the parsers.
const (
	TLSLostRingFull  = "ring_full"      // the BPF ring buffer was full
	TLSLostTruncated = "truncated"      // a call moved more bytes than one event set carries
	TLSLostReadFault = "read_fault"     // the kernel could not read the plaintext buffer
	TLSLostUnmapped  = "unmapped"       // plaintext of a connection whose TCP socket was never seen
	TLSLostConnCap   = "connection_cap" // a new connection past flow.max_connections
)

var (
	// TLSEventsLost counts TLS plaintext events lost, by reason.
	TLSEventsLost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_tls_events_lost_total",
		Help: "TLS plaintext events lost before parsing, by reason (ring_full, truncated, read_fault, unmapped, connection_cap).",
	}, []string{"reason"})
	// TLSBytes counts TLS plaintext bytes handed to the parsers, by library.
	TLSBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_tls_plaintext_bytes_total",
		Help: "TLS plaintext bytes captured through uprobes and parsed, by library.",
	}, []string{"library"})
	// TLSEvents counts the events read off the ring buffer, by library:
	// what TLS capture's throughput is measured in.
	TLSEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_tls_events_total",
		Help: "TLS plaintext events read off the BPF ring buffer (one SSL_read or SSL_write, or one 16 KiB chunk of a larger call), by library.",
	}, []string{"library"})
	// TLSAttached is the number of binaries and libraries probed, by library.
	TLSAttached = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "podtap_tls_probed_objects",
		Help: "Binaries and shared libraries with TLS uprobes attached, by library.",
	}, []string{"library"})
)

func init() { Registry.MustRegister(TLSEventsLost, TLSBytes, TLSEvents, TLSAttached) }
