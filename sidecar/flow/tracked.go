package flow

import (
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/reassembly"

	"github.com/podtap/podtap/sidecar/message"
)

// noSeq is reassembly's "no sequence number yet" for a side.
const noSeq reassembly.Sequence = -1

// tracked is flow's state of one TCP connection: reassembly's Stream for both
// sides, and the owner of the parse stage's Stream. The sidecar keeps
// one per tracked connection, idle ones included, so it is kept small: the
// small fields are packed together, and a side's out-of-order
// account exists only while there is one (see side).
type tracked struct {
	w *worker
	// user is made on the first byte or gap, so that connections that never
	// carry data cost the parse stage nothing, and so that a SYN that comes
	// after the first packet (reordered) still decides Conn.A.
	user Stream
	// addrs and ports are the source and destination of the packet that
	// started tracking, which reassembly calls the client-to-server
	// direction.
	addrs [2]netip.Addr
	// sides are flow's account of each side, by reassembly direction.
	sides [2]side
	ports [2]uint16
	// vni is the VXLAN network of a decapsulated connection (vxlan set).
	vni   uint32
	vxlan bool
	// aDir is the reassembly direction in which Conn.A sends.
	aDir   reassembly.TCPFlowDirection
	sawSYN bool
	// rst marks a side whose stream end is an accepted RST.
	rst   [2]bool
	ended bool
	// resync marks a side of a connection tracked again after it was shed
	// (see rejoin) until its first bytes: the bytes it sent while shed are
	// skipped as those before a midstream pickup are, not as a gap.
	resync [2]bool
	// slot indexes worker.conns; -1 once the connection is no longer
	// tracked (shed at the cap, or closed).
	slot int
	// last is the capture time of its latest packet, in Unix nanoseconds
	// (a time.Time would be 16 bytes more on every connection); prev and
	// next link it in its worker's lru.
	last       int64
	prev, next *tracked
}

var _ reassembly.Stream = (*tracked)(nil)

func newTracked(w *worker, netFlow gopacket.Flow, tcp *layers.TCP) *tracked {
	src, dst := netFlow.Endpoints()
	vni, tunnelled := tunnelOf(netFlow.EndpointType())
	return &tracked{
		vni:   vni,
		vxlan: tunnelled,
		w:     w,
		addrs: [2]netip.Addr{addr(src.Raw()), addr(dst.Raw())},
		ports: [2]uint16{uint16(tcp.SrcPort), uint16(tcp.DstPort)},
		aDir:  reassembly.TCPDirClientToServer,
	}
}

// endpoint is the sender of side i, by index.
func (c *tracked) endpoint(i int) message.Endpoint {
	return message.Endpoint{IP: c.addrs[i], Port: c.ports[i]}
}

func addr(raw []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(raw)
	return a
}

// Accept lets every packet through: midstream pickup forces the start of a
// side at its first packet, and the packets of an ignored or ended
// stream are turned into empty in-order segments, so that reassembly
// neither copies nor buffers their bytes but still sees their FIN or RST.
//
// It also keeps each side's account (see side): the peer's ACKs, and
// the capture time of every segment reassembly is about to buffer.
func (c *tracked) Accept(tcp *layers.TCP, ci gopacket.CaptureInfo, dir reassembly.TCPFlowDirection, nextSeq reassembly.Sequence, start *bool, _ reassembly.AssemblerContext) bool {
	c.w.touched = c
	if c.slot < 0 && len(tcp.Payload) > 0 {
		c.rejoin()
	}
	if c.slot >= 0 {
		c.last = ci.Timestamp.UnixNano()
		c.w.lru.touch(c)
	}
	i := c.index(dir)
	if tcp.SYN && c.user == nil {
		c.sawSYN = true
		c.aDir = dir
		if tcp.ACK {
			c.aDir = !dir
		}
	}
	if tcp.ACK {
		c.sides[1-i].ack(tcp.Ack)
	}
	if tcp.RST && (nextSeq == noSeq || reassembly.Sequence(tcp.Seq) == nextSeq) {
		c.rst[i] = true
	}
	if tcp.RST && c.sides[i].closed && !c.ended {
		// A RST from a side that already sent its FIN (at the FIN's
		// sequence number or one past it, as Linux sends it) aborts the
		// connection, but reassembly drops packets on a closed half: end
		// the stream here, or it would wait for the idle timeout.
		if d := seqDiff(c.sides[i].next, tcp.Seq); d == 0 || d == 1 {
			c.end(ci.Timestamp)
		}
	}
	if c.ended || (c.user != nil && c.user.Ignored()) {
		tcp.Payload = nil
		if nextSeq != noSeq {
			tcp.Seq = uint32(nextSeq)
		}
	}
	h := &c.sides[i]
	switch {
	case nextSeq != noSeq:
		h.next = uint32(nextSeq)
		// Reassembly buffers exactly the data segments that start after
		// nextSeq (a SYN or RST there it drops).
		if !tcp.SYN && !tcp.RST && seqDiff(h.next, tcp.Seq) > 0 {
			h.buffer(tcp.Seq, len(tcp.Payload), ci.Timestamp, c.w.maxRanges)
			if ci.Timestamp.After(c.w.lastAhead) {
				c.w.lastAhead = ci.Timestamp
			}
		}
	case tcp.SYN:
		h.next = tcp.Seq + 1
	default:
		*start = true
		h.next = tcp.Seq
	}
	return true
}

// ReassembledSG delivers in-order bytes, after the gap that precedes them,
// each run of bytes with the capture time of the segment it came from.
func (c *tracked) ReassembledSG(sg reassembly.ScatterGather, _ reassembly.AssemblerContext) {
	dir, _, end, skip := sg.Info()
	// now is the capture time of the packet being assembled (the clock
	// during a flush): that of the bytes it brings itself.
	now := c.w.ctx.ci.Timestamp
	i := c.index(dir)
	h := &c.sides[i]
	d := c.sideOf(dir)
	seq := h.next + uint32(max(skip, 0))
	n, _ := sg.Lengths()
	resync := c.resync[i]
	if skip > 0 || n > 0 {
		c.resync[i] = false
	}
	if skip > 0 && !resync {
		c.w.gapBytes(skip)
		// The gap is known once the bytes after it are: it takes their time.
		ts, _, _ := h.run(0, seq, n, now)
		if s := c.stream(); s != nil {
			s.Gap(d, skip, ts)
		}
	}
	switch {
	case n == 0:
	case h.waiting == nil:
		// In order, as nearly all bytes are: all captured now.
		if s := c.stream(); s != nil {
			s.Data(d, sg.Fetch(n), now)
		}
	default:
		b := sg.Fetch(n)
		for at, k := seq, 0; len(b) > 0; {
			ts, run, next := h.run(k, at, len(b), now)
			if s := c.stream(); s != nil {
				s.Data(d, b[:run], ts)
			}
			b, at, k = b[run:], at+uint32(run), next
		}
	}
	h.advance(seq + uint32(n))
	if end {
		h.close()
		if c.rst[i] {
			c.end(now)
		}
	}
}

// rejoin tracks again a connection shed earlier (see shed) that carries
// data again, admitted under the cap as a new one is: a keep-alive
// connection silent long enough to be shed is captured again once it is
// used. Its new stream joins mid-connection, as on a midstream pickup; the
// parse stage resynchronises on it. A connection that was reset or began
// to close stays as it is until reassembly closes it.
func (c *tracked) rejoin() {
	if c.rst[0] || c.rst[1] || c.sides[0].closed || c.sides[1].closed || !c.w.admit() {
		return
	}
	c.ended, c.sawSYN = false, false
	c.resync = [2]bool{true, true}
	c.w.track(c)
}

// ReassemblyComplete ends the stream once both sides are closed (FIN,
// RST, idle timeout or end of input) and stops tracking the connection.
func (c *tracked) ReassemblyComplete(_ reassembly.AssemblerContext) bool {
	c.sides[0].close()
	c.sides[1].close()
	c.end(c.w.clock)
	c.w.untrack(c)
	return true
}

// stream returns the Stream that wants bytes, making it on first use, or
// nil when the connection has ended or its stream ignores it.
func (c *tracked) stream() Stream {
	if c.ended {
		return nil
	}
	if c.user == nil {
		a, b := c.endpoint(0), c.endpoint(1)
		if c.aDir == reassembly.TCPDirServerToClient {
			a, b = b, a
		}
		c.user = c.w.f.factory.NewStream(Conn{A: a, B: b, SawSYN: c.sawSYN, Tunnel: message.Tunnel{VXLAN: c.vxlan, VNI: c.vni}})
		if c.user == nil {
			c.ended = true
			return nil
		}
	}
	if c.user.Ignored() {
		return nil
	}
	return c.user
}

// buffering reports whether reassembly holds bytes of c out of order.
func (c *tracked) buffering() bool {
	return c.sides[0].waiting != nil || c.sides[1].waiting != nil
}

func (c *tracked) tick(now time.Time) {
	if c.user != nil && !c.ended {
		c.user.Tick(now)
	}
}

func (c *tracked) end(ts time.Time) {
	if c.user != nil && !c.ended {
		c.user.End(ts)
	}
	c.ended = true
}

// sideOf maps a reassembly direction to the Stream's side.
func (c *tracked) sideOf(dir reassembly.TCPFlowDirection) Side {
	if dir == c.aDir {
		return AtoB
	}
	return BtoA
}

// index numbers reassembly directions for per-side state.
func (c *tracked) index(dir reassembly.TCPFlowDirection) int {
	if dir == reassembly.TCPDirClientToServer {
		return 0
	}
	return 1
}
