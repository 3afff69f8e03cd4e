// Package tunnel is the tunnel mode's sender: each packet the capture
// delivers (after the kernel's port filter) goes, VXLAN-encapsulated, in one
// UDP datagram to a central receiver, which parses it. The sidecar then
// decodes, reassembles and parses nothing. The send never blocks the
// capture: a datagram the socket cannot take at once is dropped and
// counted by reason.
package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/statelog"
	"github.com/podtap/podtap/sidecar/vxlan"
)

// tickInterval is how often drops are logged and the kernel's capture
// counters read.
const tickInterval = time.Second

// Sender sends captured packets to tunnel.target.
type Sender struct {
	cfg   config.Tunnel
	vni   vxlan.VNI
	conn  *net.UDPConn
	raw   syscall.RawConn
	addr  string // the target's current address
	out   []byte // the datagram being sent
	seg   []byte // the segment being cut
	state *statelog.State
	// lost counts drops by reason since the last tick.
	lost map[string]int
	// sent counts datagrams since the last tick.
	sent int
}

// New prepares a sender; Run resolves the target and sends.
func New(cfg config.Tunnel) *Sender {
	return &Sender{
		cfg: cfg,
		vni: vxlan.VNI(cfg.VNI),
		out: make([]byte, 0, 64<<10+vxlan.HeaderLen),
		seg: make([]byte, 0, cfg.SegmentBytes+ethLen),
		state: statelog.New(statelog.Config{
			Degraded:  "tunnel dropping packets",
			Recovered: "tunnel sending again",
		}),
		lost: map[string]int{},
	}
}

// Run sends every packet of src until ctx is done or src ends.
func (s *Sender) Run(ctx context.Context, src capture.Source) error {
	if src.LinkType() != layers.LinkTypeEthernet {
		return fmt.Errorf("tunnel: the capture's link type is %v; tunnel mode sends Ethernet frames (capture.interface eth0 or lo)", src.LinkType())
	}
	defer s.close()
	s.resolve(ctx)
	var dropWatch *capture.DropWatch
	if src.Live() {
		dropWatch = capture.NewDropWatch(slog.Default(), src)
	}
	nextTick := time.Now().Add(tickInterval)
	nextResolve := time.Now().Add(s.cfg.ResolveInterval)
	for {
		data, _, err := src.ReadPacket()
		switch {
		case err == nil:
			metrics.Packets.Inc()
			metrics.Bytes.Add(float64(len(data)))
			s.packet(data)
		case errors.Is(err, capture.ErrTimeout):
		case errors.Is(err, io.EOF):
			s.tick()
			return nil
		default:
			return fmt.Errorf("tunnel: %w", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		if now := time.Now(); !now.Before(nextTick) {
			nextTick = now.Add(tickInterval)
			s.tick()
			if dropWatch != nil {
				if st, err := src.Stats(); err == nil {
					dropWatch.Observe(st)
				}
			}
			if !now.Before(nextResolve) || s.conn == nil {
				nextResolve = now.Add(s.cfg.ResolveInterval)
				s.resolve(ctx)
			}
		}
	}
}

// packet sends one captured frame, cut into segments when it is a TCP
// packet larger than tunnel.segment_bytes.
func (s *Sender) packet(frame []byte) {
	if s.conn == nil {
		s.drop(ReasonUnresolved)
		return
	}
	if segments(frame, s.cfg.SegmentBytes, s.seg, s.send) {
		segmented.Inc()
		return
	}
	s.send(frame)
}

func (s *Sender) send(frame []byte) {
	// The VNI was validated by config.
	s.out, _ = vxlan.Append(s.out[:0], s.vni, frame)
	var werr error
	err := s.raw.Write(func(fd uintptr) bool {
		// The socket is non-blocking: a full send buffer is an EAGAIN
		// here, never a wait that would stall the capture ring.
		_, werr = unix.Write(int(fd), s.out)
		return true
	})
	if err == nil {
		err = werr
	}
	if err == nil {
		s.sent++
		datagrams.Inc()
		datagramBytes.Add(float64(len(s.out)))
		return
	}
	s.drop(sendReason(err))
}

func sendReason(err error) string {
	switch {
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.ENOBUFS):
		return ReasonSendBufferFull
	case errors.Is(err, unix.ECONNREFUSED), errors.Is(err, unix.EHOSTUNREACH), errors.Is(err, unix.ENETUNREACH):
		return ReasonUnreachable
	case errors.Is(err, unix.EMSGSIZE):
		return ReasonTooLarge
	}
	return ReasonSendError
}

func (s *Sender) drop(reason string) {
	drops.WithLabelValues(reason).Inc()
	s.lost[reason]++
}

// tick logs the interval's drops as one degraded state, or its end.
func (s *Sender) tick() {
	if len(s.lost) == 0 {
		s.state.Recover("target", s.cfg.Target)
		s.sent = 0
		return
	}
	worst, n := "", 0
	for reason, c := range s.lost {
		if c > n || (c == n && reason < worst) {
			worst, n = reason, c
		}
	}
	for reason, c := range s.lost {
		if reason != worst {
			s.state.Lost(reason, c)
		}
	}
	s.state.Kept("datagrams", s.sent)
	s.state.DegradeLost(worst, worst, n, "target", s.cfg.Target, "address", s.addr, "dropped", n, "sent", s.sent)
	clear(s.lost)
	s.sent = 0
}

// resolve looks the target up and, when its address changed, connects a
// new socket to it. Failures leave the old socket, or none: packets are
// then dropped as unresolved, and the next tick tries again.
func (s *Sender) resolve(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	host, port, err := net.SplitHostPort(s.cfg.Target)
	if err != nil {
		slog.Error("tunnel.target is not host:port", "target", s.cfg.Target, "err", err)
		return
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		s.state.Degrade(ReasonUnresolved, "target", s.cfg.Target, "err", err)
		return
	}
	addr := net.JoinHostPort(ips[0].Unmap().String(), port)
	if addr == s.addr && s.conn != nil {
		return
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		s.state.Degrade(ReasonUnresolved, "target", s.cfg.Target, "err", err)
		return
	}
	conn, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		s.state.Degrade(ReasonUnreachable, "target", s.cfg.Target, "address", addr, "err", err)
		return
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		s.state.Degrade(ReasonSendError, "target", s.cfg.Target, "err", err)
		return
	}
	s.close()
	s.conn, s.raw, s.addr = conn, raw, addr
	slog.Info("tunnelling packets", "target", s.cfg.Target, "address", addr, "vni", s.cfg.VNI)
}

func (s *Sender) close() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}
