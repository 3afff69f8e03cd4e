package flow

import "time"

// maxAckJump bounds how far one ACK may move past the previous one: no
// window is larger (RFC 7323 caps it at 2^30 bytes), so a larger jump is
// garbage, not progress, and must not make a hole look acknowledged.
const maxAckJump = 1 << 30

// seqDiff is b-a in TCP sequence space: positive when b comes after a.
func seqDiff(a, b uint32) int { return int(int32(b - a)) }

// half is flow's own account of one direction of a connection, kept beside
// reassembly's, which exposes none of it: where the delivered bytes end,
// how far the peer has acknowledged them, and when the bytes buffered out
// of order were captured. Reassembly hands buffered bytes over with the
// context of the packet being assembled when they become deliverable, so
// without this they would carry that packet's time, not their own.
type half struct {
	// next is reassembly's next expected sequence number.
	next uint32
	// acked is the highest acknowledgement the peer sent, if hasAck.
	acked  uint32
	hasAck bool
	closed bool
	// waiting are the bytes buffered ahead of next: disjoint ranges in
	// sequence order, each with the capture time of the first segment
	// that carried it.
	waiting []stamp
}

// stamp is a range of sequence numbers [from, to) captured at ts.
type stamp struct {
	from, to uint32
	ts       time.Time
}

// keepWaiting bounds the capacity an emptied waiting list keeps, so that a
// connection that once buffered much does not hold that memory forever.
const keepWaiting = 16

// ack records an acknowledgement the peer sent for this direction.
func (h *half) ack(n uint32) {
	if !h.hasAck {
		h.acked, h.hasAck = n, true
		return
	}
	if d := seqDiff(h.acked, n); d > 0 && d < maxAckJump {
		h.acked = n
	}
}

// buffer records the capture time of a segment that reassembly buffers
// because it starts after next. Bytes already recorded keep their earlier
// time: a retransmission does not make them younger. Past limit ranges
// (reassembly's own page cap, which never holds fewer pages than ranges)
// the time is not recorded; those bytes then carry the delivery time.
func (h *half) buffer(seq uint32, n int, ts time.Time, limit int) {
	if h.closed || n <= 0 {
		return
	}
	from, to := seq, seq+uint32(n)
	w := h.waiting
	if len(w) == 0 || seqDiff(w[len(w)-1].to, from) >= 0 {
		h.insert(len(w), stamp{from, to, ts}, limit)
		return
	}
	i := 0
	for i < len(h.waiting) && from != to {
		e := h.waiting[i]
		switch {
		case seqDiff(e.to, from) >= 0:
			// e ends before the new bytes start.
			i++
			continue
		case seqDiff(to, e.from) >= 0:
			// e starts after the new bytes end.
			h.insert(i, stamp{from, to, ts}, limit)
			return
		}
		if seqDiff(from, e.from) > 0 {
			if !h.insert(i, stamp{from, e.from, ts}, limit) {
				return
			}
			i++
		}
		if seqDiff(e.to, to) <= 0 {
			return
		}
		from = e.to
		i++
	}
	if from != to {
		h.insert(i, stamp{from, to, ts}, limit)
	}
}

// insert puts s at index i, unless limit ranges are recorded already.
func (h *half) insert(i int, s stamp, limit int) bool {
	if len(h.waiting) >= limit {
		return false
	}
	h.waiting = append(h.waiting, stamp{})
	copy(h.waiting[i+1:], h.waiting[i:])
	h.waiting[i] = s
	return true
}

// run returns the capture time of the bytes from seq on and how many of
// the next n share it, starting the search at waiting[i]; it also returns
// the index to resume from. Bytes never buffered were captured now.
func (h *half) run(i int, seq uint32, n int, now time.Time) (time.Time, int, int) {
	w := h.waiting
	for i < len(w) && seqDiff(w[i].to, seq) >= 0 {
		i++
	}
	if i == len(w) {
		return now, n, i
	}
	if d := seqDiff(seq, w[i].from); d > 0 {
		return now, min(n, d), i
	}
	return w[i].ts, min(n, seqDiff(seq, w[i].to)), i
}

// advance moves next to seq and forgets the times of bytes before it.
func (h *half) advance(seq uint32) {
	h.next = seq
	if len(h.waiting) > 0 {
		h.forget(seq)
	}
}

// forget drops the times of bytes before seq.
func (h *half) forget(seq uint32) {
	w := h.waiting
	i := 0
	for i < len(w) && seqDiff(w[i].to, seq) >= 0 {
		i++
	}
	if i < len(w) && seqDiff(w[i].from, seq) > 0 {
		w[i].from = seq
	}
	n := copy(w, w[i:])
	clear(w[n:])
	h.waiting = w[:n]
	if n == 0 && cap(w) > keepWaiting {
		h.waiting = nil
	}
}

// close forgets the buffered bytes: reassembly drops them once the
// direction ended.
func (h *half) close() {
	h.closed = true
	h.waiting = nil
}

// ackedHole reports whether the peer acknowledged bytes past the hole
// before the first buffered range: the receiver got them, so the capture
// lost them and waiting for them is pointless.
func (h *half) ackedHole() bool {
	return len(h.waiting) > 0 && h.hasAck && !h.closed &&
		seqDiff(h.waiting[0].from, h.acked) >= 0 && seqDiff(h.next, h.waiting[0].from) > 0
}
