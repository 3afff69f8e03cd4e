package flow

import (
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/reassembly"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podtap/podtap/sidecar/metrics"
)

// Causes of metrics.GapBytes.
const (
	// GapLost: never captured. The peer acknowledged past the hole, or no
	// retransmission filled it within flow.flush_interval.
	GapLost       = "lost"
	GapBufferFull = "buffer_full" // skipped because a reassembly memory cap was reached
)

// worker owns the connections sharded to it: only its goroutine touches
// them, its assembler and its streams.
type worker struct {
	f    *Flow
	in   chan *batch
	free chan *batch
	asm  *reassembly.Assembler

	tcp layers.TCP
	// ctx is the assembler context of every packet: the capture time of
	// the packet being assembled, or the clock during a flush. One value,
	// reused, keeps Assemble free of allocations; reassembly therefore
	// hands buffered bytes over with the time they became deliverable, and
	// each tracked connection keeps their capture times itself (see side).
	ctx assemblerContext
	// hash is the flow hash of the packet being assembled.
	hash uint64
	// touched is the connection whose Accept saw the packet being
	// assembled, nil if none did.
	touched *tracked
	// maxRanges bounds the capture times a side keeps (see
	// side.buffer): reassembly's page cap for one side.
	maxRanges int
	// skipTCP and skipHeader are the segment skipHole assembles.
	skipTCP    layers.TCP
	skipHeader [minTCPHeader]byte
	// flushing is set while timers run and skipping while skipHole runs:
	// gaps found then are GapLost.
	flushing, skipping bool
	// lastAhead is the capture time of the latest segment reassembly
	// buffered ahead of its side's next byte; flushedTo the flush time of
	// the last full flush, swept the clock then (see flushDue).
	lastAhead, flushedTo, swept time.Time

	clock time.Time
	// endClock is set by the reader before it closes in.
	endClock time.Time

	conns     []*tracked // open connections; conn.slot indexes it
	lru       lru
	overLimit seenSet
	ignored   ignoredCounts
	// buffered is this worker's share of metrics.ReassemblyBytes.
	buffered int

	overLimitConns prometheus.Counter
	shedEvicted    prometheus.Counter
	shedRefused    prometheus.Counter
	shedPressure   prometheus.Counter
	gapLost        prometheus.Counter
	gapBufferFull  prometheus.Counter
}

// assemblerContext carries a packet's capture info into reassembly.
type assemblerContext struct{ ci gopacket.CaptureInfo }

func (c *assemblerContext) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

func newWorker(f *Flow, workers int) *worker {
	// Room for every batch the reader may make, so that handing one over
	// or back never waits.
	n := workerBatches(int64(f.cfg.QueueBytes), workers)
	w := &worker{
		f:              f,
		in:             make(chan *batch, n),
		free:           make(chan *batch, n),
		overLimitConns: metrics.ConnectionsTotal.WithLabelValues(IgnoredOverLimit),
		shedEvicted:    metrics.ConnectionsShed.WithLabelValues(ShedEvicted),
		shedRefused:    metrics.ConnectionsShed.WithLabelValues(ShedRefused),
		shedPressure:   metrics.ConnectionsShed.WithLabelValues(ShedMemoryPressure),
		gapLost:        metrics.GapBytes.WithLabelValues(GapLost),
		gapBufferFull:  metrics.GapBytes.WithLabelValues(GapBufferFull),
	}
	for range batchesPerWorker {
		w.free <- newBatch()
	}
	w.asm = reassembly.NewAssembler(reassembly.NewStreamPool(poolFactory{w}))
	w.asm.AssemblerOptions = assemblerOptions(f.cfg, workers)
	w.maxRanges = w.asm.MaxBufferedPagesPerConnection
	return w
}

// run assembles the batches the reader sends until it closes in, then ends
// every connection.
func (w *worker) run() {
	for b := range w.in {
		for i := range b.pkts {
			w.assemble(&b.pkts[i], b.arena)
		}
		if !b.tick.IsZero() {
			w.timers(b.tick)
			if b.pressed {
				w.shedPressed(w.clock)
			}
		}
		b.reset()
		w.free <- b
	}
	w.close()
}

func (w *worker) assemble(p *packet, arena []byte) {
	if err := w.tcp.DecodeFromBytes(arena[p.off:p.end], gopacket.NilDecodeFeedback); err != nil {
		w.ignored[malformed]++
		return
	}
	if p.ts.After(w.clock) {
		w.clock = p.ts
	}
	w.ctx.ci.Timestamp = p.ts
	w.hash = p.hash
	w.touched = nil
	w.asm.AssembleWithContext(p.net, &w.tcp, &w.ctx)
	if c := w.touched; c != nil && c.buffering() {
		w.skipAcked(c)
	}
}

// timers flushes out-of-order data stalled for a flush interval past its
// gap, closes connections idle for the idle timeout (both when flushDue),
// and ticks every open stream.
func (w *worker) timers(now time.Time) {
	if now.After(w.clock) {
		w.clock = now
	}
	w.ctx.ci = gopacket.CaptureInfo{Timestamp: w.clock}
	if w.flushDue() {
		t := w.clock.Add(-w.f.cfg.FlushInterval)
		w.flushing = true
		w.asm.FlushWithOptions(reassembly.FlushOptions{T: t, TC: w.clock.Add(-w.f.cfg.IdleTimeout)})
		w.flushing = false
		w.flushedTo, w.swept = t, w.clock
	}
	w.publish()
	for _, c := range w.conns {
		c.tick(w.clock)
	}
}

// close delivers whatever is still queued, with its gaps, and ends every
// stream at the end of the input.
func (w *worker) close() {
	if w.endClock.After(w.clock) {
		w.clock = w.endClock
	}
	w.ctx.ci = gopacket.CaptureInfo{Timestamp: w.clock}
	w.flushing = true
	w.asm.FlushAll()
	w.flushing = false
	// FlushAll completes every connection in the pool; any left were never
	// given to it and are ended here so no stream misses its End.
	for len(w.conns) > 0 {
		w.conns[len(w.conns)-1].ReassemblyComplete(nil)
	}
	w.publish()
}

func (w *worker) track(c *tracked) {
	c.slot = len(w.conns)
	w.conns = append(w.conns, c)
	metrics.Connections.Inc()
}

func (w *worker) untrack(c *tracked) {
	if c.slot < 0 {
		return // shed already
	}
	w.lru.remove(c)
	last := len(w.conns) - 1
	w.conns[c.slot] = w.conns[last]
	w.conns[c.slot].slot = c.slot
	w.conns[last] = nil
	w.conns = w.conns[:last]
	c.slot = -1
	w.f.conns.Add(-1)
	metrics.Connections.Dec()
}

// gapBytes counts n skipped bytes under their cause.
func (w *worker) gapBytes(n int) {
	if w.flushing || w.skipping {
		w.gapLost.Add(float64(n))
	} else {
		w.gapBufferFull.Add(float64(n))
	}
}

// publish updates the metrics the worker counts locally.
func (w *worker) publish() {
	w.ignored.flush()
	buffered := bufferedBytes(w.asm)
	metrics.ReassemblyBytes.Add(float64(buffered - w.buffered))
	w.buffered = buffered
}

// poolFactory makes the reassembly state of a new connection.
type poolFactory struct{ w *worker }

// New starts tracking a connection, unless the packet cannot start one or
// the connection limit is reached (then nil: the packet is dropped).
func (pf poolFactory) New(netFlow, _ gopacket.Flow, tcp *layers.TCP, _ reassembly.AssemblerContext) reassembly.Stream {
	w := pf.w
	// A bare ACK, FIN or RST is what trails a connection already closed
	// (or one never tracked); starting a connection on it would keep an
	// empty one alive until the idle timeout.
	if len(tcp.Payload) == 0 && !tcp.SYN {
		return nil
	}
	if !w.admit() {
		return nil
	}
	c := newTracked(w, netFlow, tcp)
	w.track(c)
	return c
}

// admit takes a place under the connection cap for the connection of the
// packet being assembled. At the cap, the connection silent the longest
// for a flush interval gives way; if none has, the connection is refused
// (its packet counted as dropped).
func (w *worker) admit() bool {
	if w.f.admit() {
		return true
	}
	evicted := w.evict(w.ctx.ci.Timestamp, w.f.cfg.FlushInterval)
	if evicted {
		w.shedEvicted.Inc()
		w.f.shed.Add(1)
	}
	if evicted && w.f.admit() {
		return true
	}
	w.ignored[overLimit]++
	if w.overLimit.first(w.hash) {
		w.overLimitConns.Inc()
		w.shedRefused.Inc()
		w.f.shed.Add(1)
	}
	return false
}
