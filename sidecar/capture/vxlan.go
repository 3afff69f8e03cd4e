package capture

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/metrics"
)

// LinkTypeVXLAN is the link type of the vxlan source's packets: UDP
// payloads, each a VXLAN header and the mirrored Ethernet frame. No pcap
// file carries it (OpenFile refuses it); it tells the flow stage to decode
// VXLAN first.
const LinkTypeVXLAN layers.LinkType = 0xfff0

// ReasonSocketFull is why the kernel drops datagrams of the vxlan source:
// the socket's receive buffer was full.
const ReasonSocketFull = "socket_buffer_full"

// maxDatagram holds any UDP datagram, so none is truncated.
const maxDatagram = 64 << 10

// VXLAN receives VXLAN on a plain UDP socket: the kernel strips the outer
// headers, so no capability is needed. Kernel drops (SO_RXQ_OVFL) and
// receive times (SO_TIMESTAMPNS) come with each datagram.
type VXLAN struct {
	fd   int
	port int
	buf  []byte
	oob  []byte
	iov  unix.Iovec
	msg  unix.Msghdr

	mu       sync.Mutex
	packets  uint64
	drops    uint64 // the socket's cumulative drop count
	reported uint64
}

var _ Source = (*VXLAN)(nil)

// OpenVXLAN listens on cfg.VXLAN.Port on every address (IPv6 and IPv4,
// or IPv4 alone where IPv6 is off), in the calling thread's network
// namespace.
func OpenVXLAN(cfg config.Capture) (*VXLAN, error) {
	port := cfg.VXLAN.Port
	fd, err := listenUDP(port)
	if err != nil {
		return nil, fmt.Errorf("capture: listening for VXLAN on UDP port %d (capture.vxlan.port): %w", port, err)
	}
	v := &VXLAN{fd: fd, port: port, buf: make([]byte, maxDatagram), oob: make([]byte, 256)}
	if err := v.setup(cfg.VXLAN); err != nil {
		unix.Close(fd)
		return nil, err
	}
	v.iov.Base = &v.buf[0]
	v.iov.SetLen(len(v.buf))
	v.msg.Iov = &v.iov
	v.msg.Iovlen = 1
	return v, nil
}

func listenUDP(port int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		if err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err == nil {
			if err = unix.Bind(fd, &unix.SockaddrInet6{Port: port}); err == nil {
				return fd, nil
			}
		}
		unix.Close(fd)
		if !errors.Is(err, unix.EAFNOSUPPORT) && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return -1, err
		}
	}
	fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func (v *VXLAN) setup(cfg config.VXLAN) error {
	want := int(cfg.ReceiveBufferBytes)
	// SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN; without
	// it SO_RCVBUF is capped there, which the warning below reports.
	if err := unix.SetsockoptInt(v.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, want); err != nil {
		if err := unix.SetsockoptInt(v.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, want); err != nil {
			return fmt.Errorf("capture: setting SO_RCVBUF to capture.vxlan.receive_buffer_bytes %d: %w", want, err)
		}
	}
	// The kernel reports twice what it grants, the half it keeps for
	// its own bookkeeping included.
	if got, err := unix.GetsockoptInt(v.fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil && got/2 < want {
		slog.Warn("vxlan receive buffer smaller than configured: raise the host's net.core.rmem_max or grant CAP_NET_ADMIN",
			"reason", "rmem_max", "setting", "capture.vxlan.receive_buffer_bytes", "want", want, "got", got/2,
			"sysctl", fmt.Sprintf("net.core.rmem_max=%d", want))
	}
	for _, opt := range []int{unix.SO_RXQ_OVFL, unix.SO_TIMESTAMPNS} {
		if err := unix.SetsockoptInt(v.fd, unix.SOL_SOCKET, opt, 1); err != nil {
			return fmt.Errorf("capture: enabling socket option %d on the vxlan socket: %w", opt, err)
		}
	}
	tv := unix.NsecToTimeval(pollInterval.Nanoseconds())
	if err := unix.SetsockoptTimeval(v.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("capture: setting the vxlan socket's poll interval: %w", err)
	}
	return nil
}

// ReadPacket returns the next datagram's payload: a VXLAN header and the
// frame it carries.
func (v *VXLAN) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	var ci gopacket.CaptureInfo
	for {
		v.msg.Control = &v.oob[0]
		v.msg.SetControllen(len(v.oob))
		v.msg.Flags = 0
		n, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(v.fd), uintptr(unsafe.Pointer(&v.msg)), 0)
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return nil, ci, ErrTimeout
		default:
			return nil, ci, fmt.Errorf("capture: reading the vxlan socket (UDP port %d): %w", v.port, errno)
		}
		ci.Timestamp = v.control(v.oob[:v.msg.Controllen])
		if ci.Timestamp.IsZero() {
			ci.Timestamp = time.Now()
		}
		ci.CaptureLength, ci.Length = int(n), int(n)
		v.mu.Lock()
		v.packets++
		v.mu.Unlock()
		return v.buf[:n], ci, nil
	}
}

// control reads the receive time and the socket's drop count from a
// datagram's control messages.
func (v *VXLAN) control(oob []byte) time.Time {
	var ts time.Time
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		data := oob[unix.CmsgLen(0):l]
		if h.Level == unix.SOL_SOCKET {
			switch h.Type {
			case unix.SO_RXQ_OVFL:
				if len(data) >= 4 {
					d := uint64(*(*uint32)(unsafe.Pointer(&data[0])))
					v.mu.Lock()
					v.drops = d
					v.mu.Unlock()
				}
			case unix.SCM_TIMESTAMPNS:
				if len(data) >= int(unsafe.Sizeof(unix.Timespec{})) {
					t := (*unix.Timespec)(unsafe.Pointer(&data[0]))
					ts = time.Unix(t.Unix())
				}
			}
		}
		oob = oob[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(oob)):]
	}
	return ts
}

// LinkType is LinkTypeVXLAN.
func (v *VXLAN) LinkType() layers.LinkType { return LinkTypeVXLAN }

// Live is true: timers run on the wall clock.
func (v *VXLAN) Live() bool { return true }

// Stats returns the datagrams read and those the kernel dropped, and adds
// new drops to metrics.KernelDrops. The kernel reports its count with the
// next datagram after a drop, so drops show when traffic resumes.
func (v *VXLAN) Stats() (Stats, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.drops > v.reported {
		metrics.KernelDrops.Add(float64(v.drops - v.reported))
		v.reported = v.drops
	}
	return Stats{Packets: v.packets + v.drops, Drops: v.drops}, nil
}

// Close closes the socket.
func (v *VXLAN) Close() error { return unix.Close(v.fd) }

func (v *VXLAN) dropCause() (reason, setting string) {
	return ReasonSocketFull, "capture.vxlan.receive_buffer_bytes"
}
