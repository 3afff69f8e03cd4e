package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Normalize rewrites the values that have a short form into their long
// one: a "file:PATH" sink.type becomes type "file" and sink.path PATH.
// LoadSidecar applies it; Validate accepts either form.
func (c *Sidecar) Normalize() {
	c.Sink = c.Sink.normalized()
}

// Validate checks every value, changing none, so a caller may validate the
// configuration it goes on to use. Each problem names its key and what is
// accepted.
func (c *Sidecar) Validate() error {
	var errs []error
	bad := func(key string, got any, accepted string) {
		errs = append(errs, fmt.Errorf("%s: %v is not accepted; want %s", key, got, accepted))
	}

	switch c.Capture.Source {
	case SourceInterface, SourceVXLAN:
	default:
		bad("capture.source", c.Capture.Source, `"interface" or "vxlan"`)
	}
	if p := c.Capture.VXLAN.Port; p < 1 || p > 65535 {
		bad("capture.vxlan.port", p, "a UDP port from 1 to 65535")
	}
	for _, vni := range c.Capture.VXLAN.VNIs {
		if vni < 0 || vni > 1<<24-1 {
			bad("capture.vxlan.vnis", vni, "VNIs from 0 to 16777215, comma separated")
		}
	}
	if c.Capture.VXLAN.ReceiveBufferBytes < 64*KiB || c.Capture.VXLAN.ReceiveBufferBytes > GiB {
		bad("capture.vxlan.receive_buffer_bytes", c.Capture.VXLAN.ReceiveBufferBytes, "64Ki to 1Gi")
	}
	if c.Capture.Interface == "" {
		bad("capture.interface", `""`, `"auto", "eth0", "lo" or another interface name`)
	}
	for _, p := range append(append([]int{}, c.Capture.Ports...), c.Capture.ExcludePorts...) {
		if p < 1 || p > 65535 {
			bad("capture.ports/capture.exclude_ports", p, "TCP ports from 1 to 65535")
		}
	}
	if c.Capture.Snaplen < 128 || c.Capture.Snaplen > 262144 {
		bad("capture.snaplen", c.Capture.Snaplen, "128 to 262144")
	}
	if c.Capture.RingBytes < MiB {
		bad("capture.ring_bytes", c.Capture.RingBytes, "at least 1Mi")
	}
	if !(c.Capture.SampleRate > 0 && c.Capture.SampleRate <= 1) {
		bad("capture.sample_rate", c.Capture.SampleRate, "a fraction 0 < rate <= 1")
	}
	if _, err := ParseTLS(c.Capture.TLS); err != nil {
		errs = append(errs, fmt.Errorf("capture.tls: %w", err))
	}
	if r := c.Capture.TLSRingBytes; r < 64*KiB || r > GiB || r&(r-1) != 0 {
		bad("capture.tls_ring_bytes", r, "a power of two from 64Ki to 1Gi")
	}
	for _, ip := range c.Pod.IPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			bad("pod.ip", ip, "IPv4 or IPv6 addresses, comma separated")
		}
	}
	if c.Flow.Workers < 0 || c.Flow.Workers > 256 {
		bad("flow.workers", c.Flow.Workers, "0 (GOMAXPROCS) to 256")
	}
	if c.Flow.MaxConnBufferBytes < 64*KiB {
		bad("flow.max_conn_buffer_bytes", c.Flow.MaxConnBufferBytes, "at least 64Ki")
	}
	if c.Flow.QueueBytes < MiB {
		bad("flow.queue_bytes", c.Flow.QueueBytes, "at least 1Mi")
	}
	if c.Flow.MaxBufferBytes < c.Flow.MaxConnBufferBytes {
		bad("flow.max_buffer_bytes", c.Flow.MaxBufferBytes, "at least flow.max_conn_buffer_bytes")
	}
	if c.Flow.MaxConnections < 1 {
		bad("flow.max_connections", c.Flow.MaxConnections, "at least 1")
	}
	if c.Flow.IdleTimeout <= 0 {
		bad("flow.idle_timeout", c.Flow.IdleTimeout, "a positive duration such as 2m")
	}
	if c.Flow.FlushInterval <= 0 {
		bad("flow.flush_interval", c.Flow.FlushInterval, "a positive duration such as 1s")
	}
	if c.Flow.DetectBytes < 16 {
		bad("flow.detect_bytes", c.Flow.DetectBytes, "at least 16")
	}
	if c.Limits.MaxMessageBytes < 1 {
		bad("limits.max_message_bytes", c.Limits.MaxMessageBytes, "a positive size such as 1Mi")
	}
	if c.Limits.MaxPairBytes < 1 {
		bad("limits.max_pair_bytes", c.Limits.MaxPairBytes, "a positive size such as 1Mi")
	}
	if c.Limits.MaxHeaderBytes < KiB {
		bad("limits.max_header_bytes", c.Limits.MaxHeaderBytes, "at least 1Ki")
	}
	if c.Pairing.ResponseTimeout <= 0 {
		bad("pairing.response_timeout", c.Pairing.ResponseTimeout, "a positive duration such as 10s")
	}
	if c.Pairing.MaxPendingPerConn < 1 {
		bad("pairing.max_pending_per_conn", c.Pairing.MaxPendingPerConn, "at least 1")
	}
	for _, s := range c.Filter.DropStatuses {
		if !validStatusRule(s) {
			bad("filter.drop_statuses", s, `status codes ("301") or classes ("4xx")`)
		}
	}
	for _, ct := range c.Filter.ContentTypes {
		if !strings.Contains(ct, "/") {
			bad("filter.content_types", ct, "media types such as application/json")
		}
	}
	for _, t := range c.Redact.Types {
		if err := checkType(strings.TrimSpace(t)); err != nil {
			errs = append(errs, fmt.Errorf("redact.types: %w", err))
		}
	}
	if !c.Classify.Enabled && len(c.Redact.RedactTypes()) > 0 {
		bad("redact.types", strings.Join(c.Redact.Types, ","), "empty when classify.enabled is false, since masking by type needs the classification")
	}
	switch c.GRPC.Reflection {
	case "inbound", "all", "off":
	default:
		bad("grpc.reflection", c.GRPC.Reflection, `"inbound", "all" or "off"`)
	}
	if c.GRPC.QueueSize < 1 {
		bad("grpc.queue_size", c.GRPC.QueueSize, "at least 1")
	}
	sink := c.Sink.normalized()
	if err := sink.check(); err != nil {
		errs = append(errs, err)
	} else if sink.Type == "kafka" && len(c.Kafka.Brokers) == 0 {
		errs = append(errs, errors.New("kafka.brokers: empty is not accepted with sink.type kafka; want host:port, comma separated"))
	}
	for _, b := range c.Kafka.Brokers {
		if err := checkBroker(b); err != nil {
			errs = append(errs, fmt.Errorf("kafka.brokers: %w", err))
		}
	}
	if err := checkTopic(c.Kafka.CoverageTopic); err != nil {
		errs = append(errs, fmt.Errorf("kafka.coverage_topic: %w", err))
	}
	if c.Report.Interval != 0 && c.Report.Interval < time.Second {
		bad("report.interval", c.Report.Interval, "0 (off) or at least 1s")
	}
	if c.Kafka.ClientID == "" {
		bad("kafka.client_id", `""`, "a name for the producer, such as podtap-sidecar")
	}
	switch c.Kafka.Compression {
	case "zstd", "lz4", "snappy", "gzip", "none":
	default:
		bad("kafka.compression", c.Kafka.Compression, `"zstd", "lz4", "snappy", "gzip" or "none"`)
	}
	switch c.Kafka.SASL.Mechanism {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		bad("kafka.sasl.mechanism", c.Kafka.SASL.Mechanism, `"", "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512"`)
	}
	switch c.Kafka.Spool.Fsync {
	case "always", "segment", "interval":
	default:
		bad("kafka.spool.fsync", c.Kafka.Spool.Fsync, `"always", "segment" or "interval"`)
	}
	if c.Kafka.Spool.SegmentBytes < 64*KiB || c.Kafka.Spool.SegmentBytes > c.Kafka.Spool.MaxBytes {
		bad("kafka.spool.segment_bytes", c.Kafka.Spool.SegmentBytes, "at least 64Ki and at most kafka.spool.max_bytes")
	}
	if c.Kafka.MaxRecordBytes < c.Limits.MaxPairBytes {
		bad("kafka.max_record_bytes", c.Kafka.MaxRecordBytes, "at least limits.max_pair_bytes")
	}
	errs = append(errs, c.Tunnel.validate(c.Mode)...)
	errs = append(errs, c.Log.validate()...)
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("config: %w", errors.Join(errs...))
}

func validStatusRule(s string) bool {
	if len(s) != 3 || s[0] < '1' || s[0] > '5' {
		return false
	}
	if s[1:] == "xx" {
		return true
	}
	return s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'
}

func (s Sink) normalized() Sink {
	if path, ok := strings.CutPrefix(s.Type, "file:"); ok {
		s.Type, s.Path = "file", path
	}
	return s
}

func (s Sink) check() error {
	switch s.Type {
	case "stdout", "kafka":
		return nil
	case "file":
		if s.Path == "" {
			return errors.New(`sink.type: "file" needs a path; want file:PATH or sink.path`)
		}
		return nil
	}
	return fmt.Errorf(`sink.type: %q is not accepted; want "stdout", "file:PATH" or "kafka"`, s.Type)
}

// checkBroker accepts a seed broker as the Kafka client dials it: host:port
// with a port from 1 to 65535.
func checkBroker(b string) error {
	const want = "want host:port, comma separated, such as kafka:9092,kafka-1:9092"
	if b == "" {
		return fmt.Errorf("an empty entry is not accepted; %s", want)
	}
	host, port, err := net.SplitHostPort(b)
	if err != nil {
		return fmt.Errorf("%q is not accepted (%v); %s", b, err, want)
	}
	if n, err := strconv.Atoi(port); host == "" || err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q is not accepted; %s, with a port from 1 to 65535", b, want)
	}
	return nil
}
