package flow

import "time"

// maxAckJump bounds how far one ACK may move past the previous one: no
// window is larger (RFC 7323 caps it at 2^30 bytes), so a larger jump is
// garbage, not progress, and must not make a hole look acknowledged.
const maxAckJump = 1 << 30

// seqDiff is b-a in TCP sequence space: positive when b comes after a.
func seqDiff(a, b uint32) int { return int(int32(b - a)) }

// side is flow's own account of one side of a connection (the bytes one
// end sends), kept beside reassembly's, which exposes none of it: where
// the delivered bytes end, how far the peer has acknowledged them, and
// when the bytes buffered out of order were captured. Reassembly hands
// buffered bytes over with the context of the packet being assembled when
// they become deliverable, so without this they would carry that packet's
// time, not their own.
type side struct {
	// next is reassembly's next expected sequence number.
	next uint32
	// acked is the highest acknowledgement the peer sent, if hasAck.
	acked  uint32
	hasAck bool
	closed bool
	// waiting are the bytes buffered ahead of next: disjoint ranges in
	// sequence order, each with the capture time of the first segment
	// that carried it. It is nil while there are none, as for nearly every
	// connection nearly always, so that an idle connection keeps no list.
	waiting *[]stamp
}

// stamp is a range of sequence numbers [from, to) captured at ts.
type stamp struct {
	from, to uint32
	ts       time.Time
}

// ack notes an acknowledgement the peer sent for this side.
func (h *side) ack(n uint32) {
	if !h.hasAck {
		h.acked, h.hasAck = n, true
		return
	}
	if d := seqDiff(h.acked, n); d > 0 && d < maxAckJump {
		h.acked = n
	}
}

// stamps returns the waiting ranges.
func (h *side) stamps() []stamp {
	if h.waiting == nil {
		return nil
	}
	return *h.waiting
}

// keep makes w the waiting ranges; an empty list is dropped.
func (h *side) keep(w []stamp) {
	switch {
	case len(w) == 0:
		h.waiting = nil
	case h.waiting == nil:
		h.waiting = new([]stamp)
		*h.waiting = w
	default:
		*h.waiting = w
	}
}

// buffer records the capture time of a segment that reassembly buffers
// because it starts after next. Bytes already recorded keep their earlier
// time: a retransmission does not make them younger. Past limit ranges
// (reassembly's own page cap, which never holds fewer pages than ranges)
// the time is not recorded; those bytes then carry the delivery time.
func (h *side) buffer(seq uint32, n int, ts time.Time, limit int) {
	if h.closed || n <= 0 {
		return
	}
	h.keep(addStamp(h.stamps(), seq, seq+uint32(n), ts, limit))
}

// addStamp adds the bytes [from, to) captured at ts to the ranges w where no
// range has them yet, and returns the ranges.
func addStamp(w []stamp, from, to uint32, ts time.Time, limit int) []stamp {
	if len(w) == 0 || seqDiff(w[len(w)-1].to, from) >= 0 {
		w, _ = insert(w, len(w), stamp{from, to, ts}, limit)
		return w
	}
	i := 0
	for i < len(w) && from != to {
		e := w[i]
		switch {
		case seqDiff(e.to, from) >= 0:
			// e ends before the new bytes start.
			i++
			continue
		case seqDiff(to, e.from) >= 0:
			// e starts after the new bytes end.
			w, _ = insert(w, i, stamp{from, to, ts}, limit)
			return w
		}
		if seqDiff(from, e.from) > 0 {
			var ok bool
			if w, ok = insert(w, i, stamp{from, e.from, ts}, limit); !ok {
				return w
			}
			i++
		}
		if seqDiff(e.to, to) <= 0 {
			return w
		}
		from = e.to
		i++
	}
	if from != to {
		w, _ = insert(w, i, stamp{from, to, ts}, limit)
	}
	return w
}

// insert puts s at index i of w, unless limit ranges are recorded already.
func insert(w []stamp, i int, s stamp, limit int) ([]stamp, bool) {
	if len(w) >= limit {
		return w, false
	}
	w = append(w, stamp{})
	copy(w[i+1:], w[i:])
	w[i] = s
	return w, true
}

// run returns the capture time of the bytes from seq on and how many of
// the next n share it, starting the search at waiting[i]; it also returns
// the index to resume from. Bytes never buffered were captured now.
func (h *side) run(i int, seq uint32, n int, now time.Time) (time.Time, int, int) {
	w := h.stamps()
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
func (h *side) advance(seq uint32) {
	h.next = seq
	if h.waiting != nil {
		h.forget(seq)
	}
}

// forget drops the times of bytes before seq.
func (h *side) forget(seq uint32) {
	w := h.stamps()
	i := 0
	for i < len(w) && seqDiff(w[i].to, seq) >= 0 {
		i++
	}
	if i < len(w) && seqDiff(w[i].from, seq) > 0 {
		w[i].from = seq
	}
	n := copy(w, w[i:])
	clear(w[n:])
	h.keep(w[:n])
}

// close forgets the buffered bytes: reassembly drops them once the
// side ended.
func (h *side) close() {
	h.closed = true
	h.waiting = nil
}

// ackedHole reports whether the peer acknowledged bytes past the hole
// before the first buffered range: the receiver got them, so the capture
// lost them and waiting for them is pointless.
func (h *side) ackedHole() bool {
	if h.waiting == nil || !h.hasAck || h.closed {
		return false
	}
	first := (*h.waiting)[0].from
	return seqDiff(first, h.acked) >= 0 && seqDiff(h.next, first) > 0
}
