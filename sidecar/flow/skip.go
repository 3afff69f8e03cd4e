package flow

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// A hole the peer has acknowledged past was received by the peer and lost
// by the capture: no retransmission will fill it. Reassembly would wait for
// it until the flush interval or the end of input, holding back everything
// behind it (on a busy keep-alive connection, every later response), so
// flow skips it as soon as the ACK is seen.
//
// Reassembly skips a hole only on its own: past a buffer cap, or in a
// flush. The first is used here, on demand: an empty segment a byte after
// next, assembled under a per-connection cap of one page, makes reassembly
// skip to its first buffered page and deliver what is contiguous with it,
// with the gap, through ReassembledSG. Being empty, the segment adds no
// bytes of its own.

// skipAcked skips, on both sides of c, every hole the peer has
// acknowledged past. It runs after a packet is assembled, never inside
// reassembly's calls, which hold the connection's lock.
func (w *worker) skipAcked(c *tracked) {
	for i := range c.sides {
		h := &c.sides[i]
		for !c.ended && h.ackedHole() {
			before := h.next
			w.skipHole(c, i)
			if h.next == before {
				// Reassembly buffers nothing there: the times recorded for
				// it are stale, and the hole is not reassembly's.
				h.waiting = nil
			}
		}
	}
}

// skipHole makes reassembly skip the first hole on side i of c.
func (w *worker) skipHole(c *tracked, i int) {
	src, dst := c.endpoint(0), c.endpoint(1)
	if i == 1 {
		src, dst = dst, src
	}
	hdr := &w.skipHeader
	binary.BigEndian.PutUint16(hdr[0:], src.Port)
	binary.BigEndian.PutUint16(hdr[2:], dst.Port)
	binary.BigEndian.PutUint32(hdr[4:], c.sides[i].next+1)
	hdr[12] = (minTCPHeader / 4) << 4 // data offset, in 32-bit words
	if err := w.skipTCP.DecodeFromBytes(hdr[:], gopacket.NilDecodeFeedback); err != nil {
		return
	}
	opts := w.asm.AssemblerOptions
	w.asm.MaxBufferedPagesPerConnection = 1
	w.skipping = true
	w.asm.AssembleWithContext(networkFlow(src.IP, dst.IP), &w.skipTCP, &w.ctx)
	w.skipping = false
	w.asm.AssemblerOptions = opts
}

// networkFlow is reassembly's key half for addresses as newTracked read them.
func networkFlow(src, dst netip.Addr) gopacket.Flow {
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		return gopacket.NewFlow(layers.EndpointIPv4, s[:], d[:])
	}
	s, d := src.As16(), dst.As16()
	return gopacket.NewFlow(layers.EndpointIPv6, s[:], d[:])
}
