// Package coverage tells what a sidecar sees and what it cannot, per pod:
// per server, the protocols of its connections, the pairs made and the
// pairs dropped by reason; the TLS connections it cannot read, by SNI and
// ALPN; gRPC services with and without a schema; the sensitive types seen
// per endpoint; HTTP/2 late joins and kernel drops. Counter gathers the
// counts on the capture path without locks; Reporter turns them into the
// podtap.coverage/v1 record (testdata/schema/coverage.schema.json).
//
// It imports no pipeline stage, so a consumer reads reports without
// linking the pipeline.
package coverage

import "time"

// Schema names the record, in its "schema" field and its Kafka header.
const Schema = "podtap.coverage/v1"

// Other is the key that entries past a bound count under.
const Other = "other"

// Report is one podtap.coverage/v1 record. Counts run from StartedAt, the
// sidecar's start, like Prometheus counters: a consumer takes the
// difference of two reports, and a report lost loses no count.
type Report struct {
	Schema    string    `json:"schema"`
	Pod       Pod       `json:"pod"`
	StartedAt time.Time `json:"started_at"`
	At        time.Time `json:"at"`
	// IntervalSeconds is report.interval: the next report is due then.
	IntervalSeconds float64    `json:"interval_seconds"`
	Servers         []Server   `json:"servers"`
	TLS             []TLS      `json:"tls"`
	GRPC            []Service  `json:"grpc"`
	Sensitive       []Endpoint `json:"sensitive"`
	HTTP2           HTTP2      `json:"http2"`
	// KernelDrops counts packets the kernel dropped before podtap read them.
	KernelDrops uint64 `json:"kernel_drops"`
	// Drops counts every pair dropped, by reason, in every stage including
	// the sink's (podtap_pairs_dropped_total); Servers splits the drops of
	// the stages that know the server.
	Drops map[string]uint64 `json:"drops"`
}

// Pod is the captured workload, from the downward API.
type Pod struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	UID       string `json:"uid,omitempty"`
	Node      string `json:"node,omitempty"`
	Workload  string `json:"workload,omitempty"`
}

// Server is what happened on connections to one server address and port.
type Server struct {
	// Server is address:port, or Other past the bound.
	Server string `json:"server"`
	// Connections counts connections by what detection made of them: http1,
	// http2, tls, ignored (not HTTP), upgraded (e.g. WebSocket).
	Connections map[string]uint64 `json:"connections"`
	// Pairs counts pairs sent to the sink, by protocol: http/1.0,
	// http/1.1, h2, grpc.
	Pairs map[string]uint64 `json:"pairs"`
	// Drops counts pairs dropped, by reason (podtap_pairs_dropped_total's).
	Drops map[string]uint64 `json:"drops"`
	// UnresolvedHeaders counts pairs sent with header fields whose HPACK
	// entry was never seen (flag hpack_unknown), after a late join.
	UnresolvedHeaders uint64 `json:"unresolved_headers"`
}

// TLS counts connections whose plaintext podtap could not read, by what
// their ClientHello offered.
type TLS struct {
	Server string `json:"server"`
	SNI    string `json:"sni"`
	// ALPN is the protocols offered, comma separated, e.g. "h2,http/1.1".
	ALPN string `json:"alpn"`
	// Reason is why it was not read: capture_off or not_probed, as in
	// podtap_tls_connections_total.
	Reason      string `json:"reason"`
	Connections uint64 `json:"connections"`
}

// Service counts the pairs of one gRPC service by whether its schema was
// had: decoded to JSON, or emitted raw (grpc.emit_undecoded) or dropped
// (grpc_no_schema) without one.
type Service struct {
	Server        string `json:"server"`
	Service       string `json:"service"`
	WithSchema    uint64 `json:"with_schema"`
	WithoutSchema uint64 `json:"without_schema"`
}

// Endpoint counts, per sensitive type, the pairs sent to one endpoint in
// which a value of that type was found.
type Endpoint struct {
	Server string `json:"server"`
	// Endpoint is "METHOD /path", with path segments that look like ids
	// (numbers, UUIDs, long hex) shown as {id}.
	Endpoint string            `json:"endpoint"`
	Types    map[string]uint64 `json:"types"`
}

// HTTP2 counts what HTTP/2 parsing could not see whole.
type HTTP2 struct {
	// LateJoins counts connection sides parsed without their beginning.
	LateJoins uint64 `json:"late_joins"`
	// StreamsJoinedLate counts streams first seen after they started; their
	// pairs are dropped as gap.
	StreamsJoinedLate uint64 `json:"streams_joined_late"`
	// UnresolvedHeaderFields counts header fields whose HPACK entry was
	// never seen.
	UnresolvedHeaderFields uint64 `json:"unresolved_header_fields"`
}
