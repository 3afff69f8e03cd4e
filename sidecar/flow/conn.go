package flow

import (
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/reassembly"

	"github.com/podtap/podtap/sidecar/message"
)

// noSeq is reassembly's "no sequence number yet" for a direction.
const noSeq reassembly.Sequence = -1

// conn is one tracked TCP connection: reassembly's Stream for both
// directions, and the owner of the parse stage's Stream.
type conn struct {
	w    *worker
	slot int
	// ends are the source and destination of the packet that started
	// tracking, which reassembly calls the client-to-server direction.
	ends [2]message.Endpoint
	// aDir is the reassembly direction in which Conn.A sends.
	aDir   reassembly.TCPFlowDirection
	sawSYN bool
	// rst marks a direction whose stream end is an accepted RST.
	rst [2]bool
	// user is made on the first byte or gap, so that connections that never
	// carry data cost the parse stage nothing, and so that a SYN that comes
	// after the first packet (reordered) still decides Conn.A.
	user  Stream
	ended bool
}

var _ reassembly.Stream = (*conn)(nil)

func newConn(w *worker, netFlow gopacket.Flow, tcp *layers.TCP) *conn {
	src, dst := netFlow.Endpoints()
	c := &conn{
		w: w,
		ends: [2]message.Endpoint{
			{IP: addr(src.Raw()), Port: uint16(tcp.SrcPort)},
			{IP: addr(dst.Raw()), Port: uint16(tcp.DstPort)},
		},
		aDir: reassembly.TCPDirClientToServer,
	}
	return c
}

func addr(raw []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(raw)
	return a
}

// Accept lets every packet through: midstream pickup forces the start of a
// direction at its first packet, and the packets of an ignored or ended
// stream are turned into empty in-order segments, so that reassembly
// neither copies nor buffers their bytes but still sees their FIN or RST.
func (c *conn) Accept(tcp *layers.TCP, _ gopacket.CaptureInfo, dir reassembly.TCPFlowDirection, nextSeq reassembly.Sequence, start *bool, _ reassembly.AssemblerContext) bool {
	if tcp.SYN && c.user == nil {
		c.sawSYN = true
		c.aDir = dir
		if tcp.ACK {
			c.aDir = !dir
		}
	}
	if tcp.RST && (nextSeq == noSeq || reassembly.Sequence(tcp.Seq) == nextSeq) {
		c.rst[c.index(dir)] = true
	}
	if c.ended || (c.user != nil && c.user.Ignored()) {
		tcp.Payload = nil
		if nextSeq != noSeq {
			tcp.Seq = uint32(nextSeq)
		}
	}
	if nextSeq == noSeq && !tcp.SYN {
		*start = true
	}
	return true
}

// ReassembledSG delivers in-order bytes, after the gap that precedes them.
func (c *conn) ReassembledSG(sg reassembly.ScatterGather, _ reassembly.AssemblerContext) {
	dir, _, end, skip := sg.Info()
	ts := c.w.ctx.ci.Timestamp
	d := c.flowDir(dir)
	if skip > 0 {
		c.w.gapBytes(skip)
		if s := c.stream(); s != nil {
			s.Gap(d, skip, ts)
		}
	}
	if n, _ := sg.Lengths(); n > 0 {
		if s := c.stream(); s != nil {
			s.Data(d, sg.Fetch(n), ts)
		}
	}
	if end && c.rst[c.index(dir)] {
		c.end(ts)
	}
}

// ReassemblyComplete ends the stream once both directions are closed (FIN,
// RST, idle timeout or end of input) and stops tracking the connection.
func (c *conn) ReassemblyComplete(_ reassembly.AssemblerContext) bool {
	c.end(c.w.clock)
	c.w.untrack(c)
	return true
}

// stream returns the Stream that wants bytes, making it on first use, or
// nil when the connection has ended or its stream ignores it.
func (c *conn) stream() Stream {
	if c.ended {
		return nil
	}
	if c.user == nil {
		a, b := c.ends[0], c.ends[1]
		if c.aDir == reassembly.TCPDirServerToClient {
			a, b = b, a
		}
		c.user = c.w.f.factory.NewStream(Conn{A: a, B: b, SawSYN: c.sawSYN})
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

func (c *conn) tick(now time.Time) {
	if c.user != nil && !c.ended {
		c.user.Tick(now)
	}
}

func (c *conn) end(ts time.Time) {
	if c.user != nil && !c.ended {
		c.user.End(ts)
	}
	c.ended = true
}

// flowDir maps a reassembly direction to the Stream's.
func (c *conn) flowDir(dir reassembly.TCPFlowDirection) Dir {
	if dir == c.aDir {
		return AtoB
	}
	return BtoA
}

// index numbers reassembly's directions for per-direction state.
func (c *conn) index(dir reassembly.TCPFlowDirection) int {
	if dir == reassembly.TCPDirClientToServer {
		return 0
	}
	return 1
}
