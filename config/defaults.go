package config

import "time"

// Byte-size units, as in Kubernetes quantities.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
)

// Capture sources (capture.source).
const (
	SourceInterface = "interface"
	SourceVXLAN     = "vxlan"
)

// DefaultSidecar returns the sidecar configuration with every default set;
// the field comments in config.go document each one.
func DefaultSidecar() Sidecar {
	return Sidecar{
		Mode:   ModeParse,
		Tunnel: Tunnel{VNI: 1, SegmentBytes: 1450, ResolveInterval: 30 * time.Second},
		Capture: Capture{
			Source:       SourceInterface,
			VXLAN:        VXLAN{Port: 4789, ReceiveBufferBytes: 8 * MiB},
			Interface:    "eth0",
			Snaplen:      65535,
			RingBytes:    8 * MiB,
			SampleRate:   1,
			TLS:          "off",
			TLSRingBytes: 8 * MiB,
		},
		Flow: Flow{
			MaxConnBufferBytes: 4 * MiB,
			MaxBufferBytes:     64 * MiB,
			QueueBytes:         16 * MiB,
			MaxConnections:     100000,
			IdleTimeout:        2 * time.Minute,
			FlushInterval:      time.Second,
			DetectBytes:        1024,
		},
		Limits: Limits{
			MaxMessageBytes: 1 * MiB,
			MaxPairBytes:    1 * MiB,
			MaxHeaderBytes:  64 * KiB,
		},
		Pairing: Pairing{
			ResponseTimeout:   10 * time.Second,
			MaxPendingPerConn: 1024,
		},
		Filter: Filter{
			Enabled:        true,
			ContentTypes:   []string{"application/json", "application/x-www-form-urlencoded"},
			DropUserAgents: []string{"kube-probe/"},
			DropStatuses:   []string{"301", "308", "4xx", "5xx"},
			DropPaths:      []string{"/metrics", "/healthz", "/api/health", "/api/v2/alive", "/api/v2/detect"},
		},
		Redact: Redact{
			Headers:    []string{"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"},
			JSONFields: []string{"password", "secret", "token", "access_token", "refresh_token", "client_secret"},
			Types:      []string{TypeGroupCredentials, TypeCard},
		},
		Classify: Classify{Enabled: true},
		GRPC: GRPC{
			Reflection:     "inbound",
			CacheTTL:       10 * time.Minute,
			NegativeTTL:    time.Minute,
			LookupTimeout:  5 * time.Second,
			QueueSize:      256,
			PendingBytes:   16 * MiB,
			PendingTimeout: 10 * time.Second,
		},
		Sink: Sink{Type: "stdout"},
		Kafka: Kafka{
			Topic:          "podtap.pairs",
			CoverageTopic:  "podtap.coverage",
			ClientID:       "podtap-sidecar",
			Compression:    "zstd",
			MaxRecordBytes: 2 * MiB,
			QueueBytes:     32 * MiB,
			ShutdownGrace:  10 * time.Second,
			Spool: Spool{
				MaxBytes:      256 * MiB,
				SegmentBytes:  8 * MiB,
				Fsync:         "interval",
				FsyncInterval: time.Second,
			},
		},
		Metrics: Metrics{Addr: ":17339"},
		Log:     Log{Level: "info", Format: "json"},
		Report:  Report{Interval: time.Minute},
	}
}
