package flow

import (
	"time"

	"github.com/gopacket/gopacket"
)

const (
	// arenaBytes is a batch's initial arena. It holds a few of the largest
	// (64 KiB, GRO-merged) segments or hundreds of ordinary ones.
	arenaBytes = 256 << 10
	// maxBatchPackets bounds the records of a batch, so small packets are
	// handed over often enough to keep workers busy.
	maxBatchPackets = 512
	// batchesPerWorker is each worker's batches while it keeps up: one
	// being filled, the rest queued or in work. A worker behind gets more,
	// up to flow.queue_bytes (see queue.go).
	batchesPerWorker = 4
)

// packet is one TCP segment in a batch; its bytes are arena[off:end].
type packet struct {
	ts       time.Time
	net      gopacket.Flow
	hash     uint64
	off, end int
}

// batch carries segments from the reader to one worker. The source reuses
// its packet buffer, so segments are copied into the batch's arena; the
// arena and records are recycled, never reallocated per packet.
type batch struct {
	pkts  []packet
	arena []byte
	// tick, when set, asks the worker to run its timers at this clock
	// after the packets, so timers see every packet captured before.
	tick time.Time
	// pressed, with tick, asks the worker to shed connections: memory is
	// short (see memoryPressed).
	pressed bool
}

func newBatch() *batch {
	return &batch{
		pkts:  make([]packet, 0, maxBatchPackets),
		arena: make([]byte, 0, arenaBytes),
	}
}

// fits reports whether a segment of n bytes can be added. An empty batch
// takes any segment, growing its arena if it must.
func (b *batch) fits(n int) bool {
	if len(b.pkts) == 0 {
		return true
	}
	return len(b.pkts) < maxBatchPackets && len(b.arena)+n <= cap(b.arena)
}

func (b *batch) add(ts time.Time, net gopacket.Flow, hash uint64, seg []byte) {
	off := len(b.arena)
	b.arena = append(b.arena, seg...)
	b.pkts = append(b.pkts, packet{ts: ts, net: net, hash: hash, off: off, end: len(b.arena)})
}

func (b *batch) empty() bool { return len(b.pkts) == 0 && b.tick.IsZero() }

func (b *batch) reset() {
	b.pkts = b.pkts[:0]
	b.arena = b.arena[:0]
	b.tick, b.pressed = time.Time{}, false
}
