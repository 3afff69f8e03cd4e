package flow

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/metrics"
)

const (
	// batchLatency bounds how long a live packet waits in a partly filled
	// batch before it is handed over anyway.
	batchLatency = 10 * time.Millisecond
	// ctxCheckEvery is how many packets pass between looks at the context.
	ctxCheckEvery = 64
)

// reader is the single goroutine that reads the source, decodes link and
// IP, keeps the clock, and hands segments to workers in batches.
type reader struct {
	f       *Flow
	src     capture.Source
	dec     *decoder
	workers []*worker
	cur     []*batch // the batch being filled for each worker, or nil
	// made counts each worker's batches and madeAll all of them;
	// maxBatches is the most there may be (see queue.go).
	made                []int
	madeAll, maxBatches int
	// owed are the ticks live workers missed while the queue was full.
	owed   []owedTick
	sample sampler
	live   bool

	// clock is packet time for files and the wall clock for live sources;
	// it never goes back.
	clock    time.Time
	nextTick time.Time
	// pendingSince is when the oldest packet still in a partly filled
	// batch was added (live only); zero when none is pending.
	pendingSince time.Time

	sampledOut seenSet
	drops      *capture.DropWatch // live only
	// Counted locally and added to Prometheus at each tick.
	packets, bytes uint64
	ignored        ignoredCounts
	sampledConns   prometheus.Counter
	shed           shedLog
	queue          queueLog
}

func newReader(f *Flow, src capture.Source, dec *decoder, workers []*worker) *reader {
	r := &reader{
		f:            f,
		src:          src,
		dec:          dec,
		workers:      workers,
		cur:          make([]*batch, len(workers)),
		made:         make([]int, len(workers)),
		owed:         make([]owedTick, len(workers)),
		sample:       newSampler(f.sampleRate),
		live:         src.Live(),
		sampledConns: metrics.ConnectionsTotal.WithLabelValues(IgnoredSampledOut),
	}
	for i := range r.made {
		r.made[i] = batchesPerWorker
	}
	// A file waits for its workers instead: nothing is lost by waiting.
	r.madeAll = len(workers) * batchesPerWorker
	r.maxBatches = r.madeAll
	if r.live {
		r.maxBatches = queueBatches(int64(f.cfg.QueueBytes), len(workers))
	}
	clock := func() time.Time { return r.clock }
	r.shed = newShedLog(f.maxConns, f.capReason, clock)
	r.queue = newQueueLog(int64(f.cfg.QueueBytes), clock)
	if r.live {
		r.drops = capture.NewDropWatch(slog.Default(), src)
	}
	return r
}

// run reads until the end of the source or ctx is done.
func (r *reader) run(ctx context.Context) error {
	done := ctx.Done()
	for n := 0; ; n++ {
		if n%ctxCheckEvery == 0 && isDone(done) {
			return nil
		}
		data, ci, err := r.src.ReadPacket()
		switch {
		case err == nil:
		case errors.Is(err, capture.ErrTimeout):
			if isDone(done) {
				return nil
			}
			r.advance(time.Now())
			r.handOverPending()
			continue
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
		r.advance(ci.Timestamp)
		r.packets++
		r.bytes += uint64(len(data))
		r.dispatch(data, ci.Timestamp)
	}
}

func isDone(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// advance moves the clock to t and runs the timers when they are due. One
// tick covers any number of missed intervals: a file may jump hours ahead.
func (r *reader) advance(t time.Time) {
	if t.After(r.clock) {
		r.clock = t
	}
	if r.nextTick.IsZero() {
		r.nextTick = r.clock.Add(r.f.cfg.FlushInterval)
		return
	}
	if r.clock.Before(r.nextTick) {
		return
	}
	r.tick()
	r.nextTick = r.clock.Add(r.f.cfg.FlushInterval)
}

// tick asks every worker to run its timers once it has the packets read so
// far, then publishes the reader's counters and, live, the kernel's drops.
// Live, a worker whose batches are all taken while the queue is full gets
// its tick with the next batch the reader can take for it: waiting for
// the worker would stop the reader emptying the kernel's ring, where the
// kernel would drop every worker's packets, not just the late one's.
func (r *reader) tick() {
	pressed := memoryPressed()
	for i := range r.workers {
		b := r.nextBatch(i)
		if b == nil {
			r.owed[i] = owedTick{due: true, pressed: pressed}
			continue
		}
		b.tick, b.pressed = r.clock, pressed
		r.send(i)
	}
	r.pendingSince = time.Time{}
	r.trim()
	r.queue.tick(r.ignored[queueFull])
	r.publish()
	r.shed.tick(r.clock, r.f.shed.Load(), pressed)
	if r.live {
		st, err := r.src.Stats()
		if err != nil {
			slog.Warn("reading capture statistics failed", "err", err)
			return
		}
		r.drops.Observe(st)
	}
}

// dispatch decodes a packet and adds its segment to its worker's batch.
func (r *reader) dispatch(data []byte, ts time.Time) {
	seg, why := r.dec.decode(data)
	if why != kept {
		r.ignored[why]++
		return
	}
	sport := uint16(seg.tcp[0])<<8 | uint16(seg.tcp[1])
	dport := uint16(seg.tcp[2])<<8 | uint16(seg.tcp[3])
	h := flowHash(seg.src, seg.dst, sport, dport)
	if seg.vxlan {
		h = mix64(h + uint64(seg.vni))
	}
	if !r.sample.keep(h) {
		r.ignored[sampledOut]++
		if r.sampledOut.first(h) {
			r.sampledConns.Inc()
		}
		return
	}
	endpoint := layers.EndpointIPv4
	if seg.ipv6 {
		endpoint = layers.EndpointIPv6
	}
	i := shard(h, len(r.workers))
	b := r.nextBatch(i)
	if b != nil && !b.fits(len(seg.tcp)) {
		r.send(i)
		b = r.nextBatch(i)
	}
	if b == nil {
		r.ignored[queueFull]++
		return
	}
	b.add(ts, netFlow(&seg, endpoint), h, seg.tcp)
	if len(b.pkts) == maxBatchPackets {
		r.send(i)
	}
	if !r.live {
		return
	}
	if r.pendingSince.IsZero() {
		r.pendingSince = r.clock
	} else if r.clock.Sub(r.pendingSince) >= batchLatency {
		r.handOverPending()
	}
}

// handOverPending sends every partly filled batch, so that a quiet live
// capture does not hold packets back. A worker with batches still queued
// is not waiting for this one: it keeps filling, since sending it would
// spend a whole batch of the queue (flow.queue_bytes) on a few packets.
func (r *reader) handOverPending() {
	r.pendingSince = time.Time{}
	for i, b := range r.cur {
		switch {
		case b == nil || b.empty():
		case len(r.workers[i].in) > 0:
			r.pendingSince = r.clock
		default:
			r.send(i)
		}
	}
}

func (r *reader) send(i int) {
	r.workers[i].in <- r.cur[i]
	r.cur[i] = nil
}

// finish hands over what is left and tells the workers to flush at the
// final clock. Workers exit once they have ended every stream.
func (r *reader) finish() {
	end := r.clock
	if r.live || end.IsZero() {
		end = time.Now()
	}
	for i, w := range r.workers {
		if b := r.cur[i]; b != nil && !b.empty() {
			r.send(i)
		}
		w.endClock = end
		close(w.in)
	}
	r.publish()
}

// publish adds the reader's local counters to Prometheus.
func (r *reader) publish() {
	metrics.Packets.Add(float64(r.packets))
	metrics.Bytes.Add(float64(r.bytes))
	r.packets, r.bytes = 0, 0
	r.ignored.flush()
}
