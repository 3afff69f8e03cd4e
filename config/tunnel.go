package config

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// Modes of the injected sidecar (Sidecar.Mode, podtap.io/mode).
const (
	// ModeParse parses in the pod: the whole pipeline runs in the sidecar.
	ModeParse = "parse"
	// ModeTunnel sends each captured packet, VXLAN-encapsulated, to a
	// central receiver, which parses it; the sidecar parses nothing.
	ModeTunnel = "tunnel"
)

// VXLANPort is the IANA port of VXLAN (RFC 7348), which the kernel's vxlan
// links, AWS VPC traffic mirroring and podtap's receiver use.
const VXLANPort = 4789

// MaxVNI is the largest VXLAN network identifier: it has 24 bits.
const MaxVNI = 1<<24 - 1

// Tunnel configures the tunnel mode's sender.
type Tunnel struct {
	// Target is the receiver, host:port, that the packets are sent to over
	// UDP. The webhook sets it to the receiver's Service
	// (<receiver.service>.<namespace>.svc:4789) when it is empty. Default
	// empty.
	Target string `mapstructure:"target"`
	// VNI is the VXLAN network identifier stamped on every packet, 0 to
	// 16777215; the receiver keys connections by it. Default 1.
	VNI int `mapstructure:"vni"`
	// SegmentBytes is the largest IP packet sent inside the tunnel: a
	// captured TCP packet larger than it (offloads hand the capture up to
	// 64 KiB at a time) is cut into segments of at most this size, so the
	// outer datagram (50 bytes more) is never fragmented on a 1500-byte
	// path. 576 to 65000. Default 1450.
	SegmentBytes int `mapstructure:"segment_bytes"`
	// ResolveInterval is how often Target's name is looked up again, so a
	// moved receiver Service is followed. Default 30s.
	ResolveInterval time.Duration `mapstructure:"resolve_interval"`
}

func (t Tunnel) validate(mode string) []error {
	var errs []error
	if t.VNI < 0 || t.VNI > MaxVNI {
		errs = append(errs, fmt.Errorf("tunnel.vni: %d is not accepted; want 0 to %d", t.VNI, MaxVNI))
	}
	if t.SegmentBytes < 576 || t.SegmentBytes > 65000 {
		errs = append(errs, fmt.Errorf("tunnel.segment_bytes: %d is not accepted; want 576 to 65000", t.SegmentBytes))
	}
	if t.ResolveInterval <= 0 {
		errs = append(errs, fmt.Errorf("tunnel.resolve_interval: %v is not accepted; want a positive duration such as 30s", t.ResolveInterval))
	}
	if t.Target != "" {
		if err := checkHostPort(t.Target); err != nil {
			errs = append(errs, fmt.Errorf("tunnel.target: %w", err))
		}
	} else if mode == ModeTunnel {
		errs = append(errs, fmt.Errorf("tunnel.target: empty is not accepted with mode %q; want the receiver's host:port, such as podtap-receiver.podtap-system.svc:%d", ModeTunnel, VXLANPort))
	}
	switch mode {
	case ModeParse, ModeTunnel:
	default:
		errs = append(errs, fmt.Errorf("mode: %q is not accepted; want %q or %q", mode, ModeParse, ModeTunnel))
	}
	return errs
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not accepted (%v); want host:port", s, err)
	}
	if n, err := strconv.Atoi(port); host == "" || err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q is not accepted; want host:port with a port from 1 to 65535", s)
	}
	return nil
}
