// Package config defines every setting of podtap once: the structs, their
// documented defaults, loading through viper (file, PODTAP_* env, flags), and
// the resolution of per-pod values from namespace and pod annotations.
//
// It imports nothing of podtap's own, so every other package may import it.
//
// Each field's comment is its documentation: the config key (the mapstructure
// tag, dotted with its parents), the accepted values, and the default. The env
// name of a key is PODTAP_ plus the key upper-cased with dots as underscores,
// e.g. limits.max_message_bytes is PODTAP_LIMITS_MAX_MESSAGE_BYTES.
package config

import "time"

// Sidecar is the whole configuration of podtap-sidecar.
type Sidecar struct {
	// Mode is "parse" (the pipeline runs in the sidecar) or "tunnel" (each
	// captured packet is sent to tunnel.target; see Tunnel). The
	// podtap.io/mode annotation sets it. Default "parse".
	Mode    string  `mapstructure:"mode"`
	Tunnel  Tunnel  `mapstructure:"tunnel"`
	Capture Capture `mapstructure:"capture"`
	Pod     Pod     `mapstructure:"pod"`
	Flow    Flow    `mapstructure:"flow"`
	Limits  Limits  `mapstructure:"limits"`
	Pairing Pairing `mapstructure:"pairing"`
	Filter  Filter  `mapstructure:"filter"`
	Redact  Redact  `mapstructure:"redact"`
	// Classify tags values by type (record's "sensitive").
	Classify Classify `mapstructure:"classify"`
	GRPC     GRPC     `mapstructure:"grpc"`
	Sink     Sink     `mapstructure:"sink"`
	Kafka    Kafka    `mapstructure:"kafka"`
	Metrics  Metrics  `mapstructure:"metrics"`
	Log      Log      `mapstructure:"log"`
	// Report configures the coverage report (podtap.coverage/v1).
	Report Report `mapstructure:"report"`
}

// Capture says where packets come from.
type Capture struct {
	// Source is where `run` reads packets: "interface" (capture.interface,
	// through AF_PACKET; needs NET_RAW) or "vxlan" (a UDP socket on
	// capture.vxlan.port receiving VXLAN from cloud traffic mirroring or
	// tunnelling sidecars; needs no capability). Default "interface".
	Source string `mapstructure:"source"`
	VXLAN  VXLAN  `mapstructure:"vxlan"`
	// Interface is the network interface `run` captures on.
	// "auto" picks lo when a service-mesh proxy shares the pod (traffic is
	// plaintext only there) and eth0 otherwise. Default "eth0".
	Interface string `mapstructure:"interface"`
	// Ports are the TCP ports captured, on either side of a connection.
	// Empty means all ports. Applied in the kernel as classic BPF.
	// Default: empty.
	Ports []int `mapstructure:"ports"`
	// ExcludePorts are TCP ports never captured, also in the kernel; they
	// win over Ports. Default: empty.
	ExcludePorts []int `mapstructure:"exclude_ports"`
	// Snaplen is the largest number of bytes kept of each packet. It must
	// cover the interface MTU plus link headers, or segments are cut and
	// reassembly sees gaps. Default 65535 (safe with GRO/TSO on loopback).
	Snaplen int `mapstructure:"snaplen"`
	// RingBytes is the size of the AF_PACKET TPACKET_V3 ring. A larger ring
	// absorbs bursts at the cost of locked memory. Default 8 MiB.
	RingBytes ByteSize `mapstructure:"ring_bytes"`
	// SampleRate is the fraction of connections captured, 0 < rate <= 1.
	// Sampling is per connection (by flow hash), so a sampled connection is
	// kept whole. Default 1.
	SampleRate float64 `mapstructure:"sample_rate"`
	// TLS captures the plaintext of TLS the application encrypts itself,
	// through eBPF uprobes on its TLS library: "off", "on" (every supported
	// library) or a comma list of openssl, boringssl, go. It needs the
	// capabilities in TLSCaptureCapabilities and a PID namespace shared with
	// the application. Default "off".
	TLS string `mapstructure:"tls"`
	// TLSRingBytes is the size of the BPF ring buffer that carries TLS
	// plaintext from the kernel to the sidecar: a power of two from 64Ki to
	// 1Gi (so a whole number of pages on every page size). Each event
	// takes 16 KiB of it however short its plaintext, so 8 MiB holds about
	// 500; what does not fit while the sidecar is behind is counted
	// (podtap_tls_events_lost_total reason ring_full). Kernels 5.11 and
	// later charge it to the sidecar's memory cgroup. Default 8 MiB.
	TLSRingBytes ByteSize `mapstructure:"tls_ring_bytes"`
}

// VXLAN configures the vxlan capture source and the decoding of VXLAN in
// replayed captures.
type VXLAN struct {
	// Port is the UDP port VXLAN arrives on; `replay` also decodes UDP to
	// this port inside capture files as VXLAN. Default 4789 (IANA).
	Port int `mapstructure:"port"`
	// VNIs are the VXLAN network identifiers kept (0 to 16777215); packets
	// of other VNIs are dropped and counted (vni_filtered). Empty means
	// all. Default empty.
	VNIs []int `mapstructure:"vnis"`
	// ReceiveBufferBytes is the UDP socket's receive buffer (SO_RCVBUF),
	// which absorbs bursts while the reader is busy; what overflows it is
	// counted as kernel drops. The kernel caps it at the host's
	// net.core.rmem_max unless the process has CAP_NET_ADMIN. Default 8 MiB.
	ReceiveBufferBytes ByteSize `mapstructure:"receive_buffer_bytes"`
}

// Pod describes the captured workload. In Kubernetes the fields come from
// the downward API env: POD_NAME, POD_NAMESPACE, POD_UID, NODE_NAME, POD_IP.
type Pod struct {
	// Name of the pod (env POD_NAME). Default empty.
	Name string `mapstructure:"name"`
	// Namespace of the pod (env POD_NAMESPACE). Default empty.
	Namespace string `mapstructure:"namespace"`
	// UID of the pod (env POD_UID). Default empty.
	UID string `mapstructure:"uid"`
	// Node the pod runs on (env NODE_NAME). Default empty.
	Node string `mapstructure:"node"`
	// IPs are the pod's own addresses (env POD_IP, comma separated), used to
	// tell inbound from outbound. Default empty: the capture interface's
	// addresses for `run`, and "unknown" direction for `replay`.
	IPs []string `mapstructure:"ip"`
	// Workload is the owning workload, e.g. Deployment/checkout. Default empty.
	Workload string `mapstructure:"workload"`
}

// Flow bounds decoding and TCP reassembly.
type Flow struct {
	// Workers is the number of reassembly workers; connections are sharded
	// to them by a symmetric hash. 0 means GOMAXPROCS. Default 0.
	Workers int `mapstructure:"workers"`
	// MaxConnBufferBytes caps out-of-order data buffered for one connection
	// (both sides). Past it the oldest gap is skipped. Default 4 MiB.
	MaxConnBufferBytes ByteSize `mapstructure:"max_conn_buffer_bytes"`
	// MaxBufferBytes caps out-of-order data buffered for all connections.
	// Default 64 MiB.
	MaxBufferBytes ByteSize `mapstructure:"max_buffer_bytes"`
	// QueueBytes bounds the packets read from the capture that wait for a
	// reassembly worker. A worker held up (a garbage collection, a slow
	// stage, the CPU limit's throttling) makes packets wait here, in
	// process memory taken only while they wait, instead of filling the
	// kernel's ring (capture.ring_bytes), which drops what does not fit.
	// The workers share it: the one behind may take all of it but what the
	// others start with. Past it packets are dropped and counted
	// (podtap_packets_ignored_total reason queue_full). Default 16 MiB.
	QueueBytes ByteSize `mapstructure:"queue_bytes"`
	// MaxConnections caps tracked connections. At the cap the connection
	// silent longest is evicted, or the new one refused when none has been
	// silent for a flush interval; both are counted. Under a Go memory
	// limit (GOMEMLIMIT) the cap is lowered to what fits it. Default 100000.
	MaxConnections int `mapstructure:"max_connections"`
	// IdleTimeout closes a connection that carried no packet for this long;
	// the record of one no longer tracked (shed or ended) goes within a
	// sixteenth of it more. Default 2m.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// FlushInterval is how long out-of-order data waits for the bytes of
	// its gap before it is delivered past it, and how often the connections
	// are checked for that and for the idle timeout. Default 1s.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
	// DetectBytes is how many bytes of a side may be examined before a
	// connection that is not HTTP is ignored. Default 1024.
	DetectBytes int `mapstructure:"detect_bytes"`
}

// Limits bound what one message or pair may hold.
type Limits struct {
	// MaxMessageBytes is the largest request or response body kept, after
	// content decoding. A larger message's pair is dropped (too_large).
	// Default 1 MiB.
	MaxMessageBytes ByteSize `mapstructure:"max_message_bytes"`
	// MaxPairBytes is the largest pair: its request and response messages
	// together, not their encoded record. Default 1 MiB.
	MaxPairBytes ByteSize `mapstructure:"max_pair_bytes"`
	// MaxHeaderBytes is the largest header block of one message; larger
	// blocks are a parse error. Default 64 KiB.
	MaxHeaderBytes ByteSize `mapstructure:"max_header_bytes"`
}

// Pairing matches responses to requests.
type Pairing struct {
	// ResponseTimeout abandons a request whose response has not arrived
	// (response_timeout). Default 10s.
	ResponseTimeout time.Duration `mapstructure:"response_timeout"`
	// MaxPendingPerConn caps requests awaiting a response on one connection
	// (or HTTP/2 streams open); older ones are abandoned. Default 1024.
	MaxPendingPerConn int `mapstructure:"max_pending_per_conn"`
}

// Filter decides which pairs are kept. The first rule that matches names
// the drop reason.
type Filter struct {
	// Enabled turns the filter stage and the content-type rule on.
	// `--no-filter` sets it false. Default true.
	Enabled bool `mapstructure:"enabled"`
	// ContentTypes: at least one half of the pair must have one of these
	// media types (parameters and case ignored), or the pair is dropped
	// (content_type). gRPC pairs are exempt. Default application/json,
	// application/x-www-form-urlencoded.
	ContentTypes []string `mapstructure:"content_types"`
	// DropUserAgents are User-Agent prefixes dropped as internal.
	// Default kube-probe/.
	DropUserAgents []string `mapstructure:"drop_user_agents"`
	// DropStatuses are response statuses dropped (status). Entries are codes
	// ("301") or classes ("4xx"). Default 301, 308, 4xx, 5xx.
	DropStatuses []string `mapstructure:"drop_statuses"`
	// DropPaths are request paths dropped (path), matched exactly.
	// Default /metrics, /healthz, /api/health, /api/v2/alive, /api/v2/detect.
	DropPaths []string `mapstructure:"drop_paths"`
}

// Redact masks sensitive values before anything leaves the pod.
type Redact struct {
	// Headers are header names whose values are masked. Default
	// authorization, proxy-authorization, cookie, set-cookie, x-api-key.
	Headers []string `mapstructure:"headers"`
	// JSONFields are JSON object keys (any depth, case-insensitive) whose
	// values are masked. Default password, secret, token, access_token,
	// refresh_token, client_secret.
	JSONFields []string `mapstructure:"json_fields"`
	// Types are the types of value (see SensitiveTypes) masked wherever
	// classification finds them, whatever their field's name, plus the
	// groups "credentials" (api_key, bearer_token, jwt, private_key) and
	// "personal" (email, phone, iban, ssn, ip, date_of_birth): add
	// "personal" to mask personal data too. Needs classify.enabled.
	// Default credentials, card.
	Types []string `mapstructure:"types"`
}

// Classify runs the validators of the sensitive types over every string
// value of bodies, query strings, headers and gRPC messages.
type Classify struct {
	// Enabled lists the classified values of each record in its
	// "sensitive" field; off, neither that nor redact.types runs, so
	// redact.types must then be empty. Default true.
	Enabled bool `mapstructure:"enabled"`
}

// GRPC configures the decoding of gRPC messages.
type GRPC struct {
	// Reflection says which servers are asked for schemas by reflection:
	// "inbound" (the pod's own servers), "all" (outbound too) or "off".
	// Default "inbound".
	Reflection string `mapstructure:"reflection"`
	// EmitUndecoded keeps gRPC pairs without a schema, with base64
	// messages, instead of dropping them (grpc_no_schema). Default false.
	EmitUndecoded bool `mapstructure:"emit_undecoded"`
	// DescriptorSets are protoset files consulted before reflection.
	// Default empty.
	DescriptorSets []string `mapstructure:"descriptor_sets"`
	// CacheTTL is how long fetched descriptors are trusted. Default 10m.
	CacheTTL time.Duration `mapstructure:"cache_ttl"`
	// NegativeTTL is how long a failed lookup is remembered. Default 1m.
	NegativeTTL time.Duration `mapstructure:"negative_ttl"`
	// LookupTimeout bounds one reflection lookup. Default 5s.
	LookupTimeout time.Duration `mapstructure:"lookup_timeout"`
	// QueueSize bounds lookups waiting to run. Default 256.
	QueueSize int `mapstructure:"queue_size"`
	// PendingBytes bounds the pairs held while their schema is looked up;
	// past it they are dropped (grpc_pending_full). Default 16 MiB.
	PendingBytes ByteSize `mapstructure:"pending_bytes"`
	// PendingTimeout bounds how long a pair waits for its schema.
	// Default 10s.
	PendingTimeout time.Duration `mapstructure:"pending_timeout"`
}

// Sink says where pairs go.
type Sink struct {
	// Type is "stdout", "file:PATH" or "kafka". Default "stdout".
	Type string `mapstructure:"type"`
	// Path is the file of the file sink; "file:PATH" in Type sets it.
	// Default empty.
	Path string `mapstructure:"path"`
}

// Kafka configures the Kafka sink.
type Kafka struct {
	// Brokers are the seed brokers, host:port, as a list or one
	// comma-separated string. Required for the kafka sink; no default.
	Brokers []string `mapstructure:"brokers"`
	// Topic receives the pairs; the podtap.io/kafka-topic annotation
	// overrides it. Default "podtap.pairs".
	Topic string `mapstructure:"topic"`
	// CoverageTopic receives the coverage reports (podtap.coverage/v1,
	// every report.interval), apart from the pairs so that pair consumers
	// never see them; each record also carries the header
	// schema=podtap.coverage/v1. Default "podtap.coverage".
	CoverageTopic string `mapstructure:"coverage_topic"`
	// ClientID names the producer to the brokers, in their logs and
	// quotas. Default "podtap-sidecar".
	ClientID string `mapstructure:"client_id"`
	// Compression is "zstd", "lz4", "snappy", "gzip" or "none" (none when
	// the broker does not support the codec). Default "zstd".
	Compression string `mapstructure:"compression"`
	// MaxRecordBytes is the largest record and batch produced, before
	// compression; at least limits.max_pair_bytes, and no more than the
	// topic's max.message.bytes. Default 2 MiB (a 1 MiB pair and its
	// envelope).
	MaxRecordBytes ByteSize `mapstructure:"max_record_bytes"`
	// CreateTopic creates the topic at start when it is missing, with the
	// cluster's default partitions and replication. Default false.
	CreateTopic bool `mapstructure:"create_topic"`
	// QueueBytes bounds the in-memory queue in front of the producer:
	// records queued, in flight or to be retried; at least
	// kafka.max_record_bytes. Default 32 MiB.
	QueueBytes ByteSize `mapstructure:"queue_bytes"`
	// ShutdownGrace is how long, on SIGTERM, the sink keeps delivering
	// before it saves the rest to the spool. Default 10s.
	ShutdownGrace time.Duration `mapstructure:"shutdown_grace"`
	TLS           KafkaTLS      `mapstructure:"tls"`
	SASL          KafkaSASL     `mapstructure:"sasl"`
	Spool         Spool         `mapstructure:"spool"`
}

// KafkaTLS configures TLS to the brokers.
type KafkaTLS struct {
	// Enabled turns TLS (1.2 or later) to the brokers on. Default false.
	Enabled bool `mapstructure:"enabled"`
	// CAFile is a PEM bundle of CAs. Default empty: the system pool.
	CAFile string `mapstructure:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and key, for
	// mutual TLS. Default empty: none.
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
	// ServerName overrides the name checked in the broker's certificate.
	// Default empty: the broker's host.
	ServerName string `mapstructure:"server_name"`
}

// KafkaSASL configures SASL authentication. Secrets are read from files or
// env and never logged.
type KafkaSASL struct {
	// Mechanism is "", "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512".
	// Default "" (no SASL).
	Mechanism string `mapstructure:"mechanism"`
	// Username, or UsernameFile naming a file that holds it (read again
	// at every connection). Default empty.
	Username     string `mapstructure:"username"`
	UsernameFile string `mapstructure:"username_file"`
	// Password, inline (env from a Secret), or PasswordFile naming a file
	// that holds it (a mounted Secret, read again at every connection).
	// Default empty.
	Password     string `mapstructure:"password"`
	PasswordFile string `mapstructure:"password_file"`
}

// Spool keeps pairs on disk while Kafka is away.
type Spool struct {
	// Dir holds the segment files; empty turns the spool off (pairs that do
	// not fit the queue are then dropped, counted). Default empty.
	Dir string `mapstructure:"dir"`
	// MaxBytes bounds the spool; past it the oldest segment is dropped
	// (spool_full). Default 256 MiB.
	MaxBytes ByteSize `mapstructure:"max_bytes"`
	// SegmentBytes is the size at which a segment is rolled. Default 8 MiB.
	SegmentBytes ByteSize `mapstructure:"segment_bytes"`
	// Fsync is "always" (every record), "segment" (on roll and close) or
	// "interval". Default "interval".
	Fsync string `mapstructure:"fsync"`
	// FsyncInterval is the period of "interval" fsync, and how often the
	// delivery position is saved. Default 1s.
	FsyncInterval time.Duration `mapstructure:"fsync_interval"`
}

// Report configures the coverage report: what the sidecar saw and could
// not read, per server, sent to kafka.coverage_topic with the kafka sink.
type Report struct {
	// Interval is how often the report is sent; 0 turns it off, otherwise
	// at least 1s. Its counts run from the sidecar's start, so a report
	// lost in a Kafka outage loses no count. Default 60s.
	Interval time.Duration `mapstructure:"interval"`
}

// Metrics configures the metrics and health endpoint.
type Metrics struct {
	// Addr serves /metrics, /healthz and /readyz; empty turns it off.
	// Default ":17339": in an injected pod it shares the network namespace
	// with the application, and 9090, 8080 and their kin are ports many
	// applications listen on without declaring them. A port taken anyway
	// never stops the sidecar (see sidecar/metrics.Serve).
	Addr string `mapstructure:"addr"`
}

// Log configures structured logging (log/slog).
type Log struct {
	// Level is "debug", "info", "warn" or "error". Default "info".
	Level string `mapstructure:"level"`
	// Format is "json" or "text". Default "json".
	Format string `mapstructure:"format"`
}
