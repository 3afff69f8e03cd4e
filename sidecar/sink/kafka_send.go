package sink

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/sink/spool"
)

// window is a set of records produced together; the next window waits
// for every promise of this one.
type window struct {
	entries []*entry
	start   time.Time
	left    atomic.Int32
	done    chan struct{}
}

// sendLoop moves records to Kafka in order: failed records first, then
// the spool, then the memory queue.
func (k *Kafka) sendLoop() {
	defer k.wg.Done()
	for {
		select {
		case <-k.stop:
			return
		default:
		}
		if up, changed := k.health.state(); !up {
			select {
			case <-k.stop:
				return
			case <-changed:
			}
			continue
		}
		w := k.nextWindow()
		if w == nil {
			select {
			case <-k.stop:
				return
			case <-k.sendKick:
			case <-k.health.wait():
			}
			continue
		}
		k.cur = w
		k.awaiting.Store(true)
		k.produce(w)
		ok := k.await(w)
		k.awaiting.Store(false)
		if !ok {
			return // Close takes over k.cur
		}
		k.settle(w)
		k.cur = nil
	}
}

// nextWindow picks what goes next, or nil when there is nothing.
func (k *Kafka) nextWindow() *window {
	if len(k.retry) > 0 {
		g := k.retry[0]
		k.retry = k.retry[1:]
		return &window{entries: g}
	}
	k.omu.Lock()
	defer k.omu.Unlock()
	var es []*entry
	if k.spool != nil && k.spool.Unread() > 0 {
		es = k.readSpool()
	} else {
		es = k.takeMem(k.windowCap, k.limits.windowRecords)
	}
	if len(es) == 0 {
		return nil
	}
	return &window{entries: es}
}

// readSpool reads a window's worth of spooled records. Called with omu
// held, so nothing is spilled behind the reader meanwhile.
func (k *Kafka) readSpool() []*entry {
	var out []*entry
	var n int64
	for len(out) < k.limits.windowRecords && (len(out) == 0 || n < k.windowCap) {
		r, ref, ok, err := k.spool.Next()
		var serr *spool.SegmentError
		switch {
		case errors.As(err, &serr):
			spoolCorrupt.Inc()
			k.drop(metrics.ReasonSpoolCorrupt, serr.Records)
			k.log.Error("spool: unreadable segment skipped", "err", serr)
			continue
		case err != nil:
			if k.limiter.allow("spool-read") {
				k.log.Error("spool: reading", "err", err)
			}
			return out
		case !ok:
			return out
		}
		rec, err := parseEnvelope(r.Payload)
		if err != nil {
			k.drop(metrics.ReasonSinkError, 1)
			k.spool.Ack(ref)
			if k.limiter.allow("envelope") {
				k.log.Error("spool: dropping an unreadable record", "err", err)
			}
			continue
		}
		rec.Timestamp = r.Time
		e := &entry{rec: rec, protocol: headerValue(rec, HeaderProtocol), spooled: true, ref: ref}
		e.size = recordSize(rec)
		if k.oversized(e) {
			k.spool.Ack(ref)
			continue
		}
		k.inflight.Add(e.size)
		n += e.size
		out = append(out, e)
	}
	return out
}

func headerValue(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// produce buffers the window in franz-go, then flushes it. When Kafka
// refuses a batch for good, franz-go fails it and every batch behind it;
// so that these are all the records of the window after the refused ones,
// buffering stops at the first answer (see bufferGate) and the records
// not buffered go first in the retry list, to be sent as the next window.
// Manual flushing keeps franz-go from sending before the flush, so that a
// window is rarely cut.
//
// The flush counts as one more promise of the window: the next window is
// buffered only once this flush has returned.
func (k *Kafka) produce(w *window) {
	w.start = time.Now()
	w.done = make(chan struct{})
	w.left.Store(int32(len(w.entries)) + 1)
	finish := func() {
		if w.left.Add(-1) == 0 {
			close(w.done)
		}
	}
	k.gate.open()
	for i, e := range w.entries {
		e.state.Store(statePending)
		e.err = nil
		// A fresh record each attempt: franz-go owns a record until its
		// promise, and sets fields on it that must not leak into a retry.
		r := &kgo.Record{Key: e.rec.Key, Value: e.rec.Value, Headers: e.rec.Headers, Timestamp: e.rec.Timestamp}
		promise := func(_ *kgo.Record, err error) {
			e.err = err
			if err == nil {
				e.state.Store(stateOK)
				if k.health.acked() {
					k.recovered("acknowledgement")
				}
			} else {
				k.gate.failed.Store(true)
				e.state.Store(stateFailed)
			}
			finish()
		}
		if !k.gate.buffer(r, i == 0, func() { k.client.TryProduce(context.Background(), r, promise) }) {
			rest := w.entries[i:]
			w.entries = w.entries[:i]
			w.left.Add(-int32(len(rest)))
			k.retry = append([][]*entry{rest}, k.retry...)
			break
		}
	}
	go func() {
		// Returns once every buffered record is settled, or when Close
		// closes the client, which fails what it still holds.
		k.client.Flush(context.Background())
		finish()
	}()
}

// await waits for the window, watching for a stall; false means Close
// stopped the sender first.
func (k *Kafka) await(w *window) bool {
	t := time.NewTicker(k.tune.stallAfter / 5)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return true
		case <-k.stop:
			return false
		case <-t.C:
			if k.health.ok() && k.health.stalled(w.start, k.tune.stallAfter) {
				err := fmt.Errorf("kafka %v: no acknowledgement for %s", k.cfg.Brokers, k.tune.stallAfter)
				cerr := k.health.lastConnErr()
				if cerr != nil {
					err = fmt.Errorf("%w; last connection error: %w", err, cerr)
				}
				k.markDown(downError{stallReason(cerr), err})
			}
		}
	}
}

// errClass sorts produce errors by what they say about the record.
type errClass int

const (
	// classUnavailable: Kafka, the topic or the credentials; the record is
	// fine and is sent again when Kafka is back.
	classUnavailable errClass = iota
	// classTooLarge: the record, or the batch it was in, is too large.
	classTooLarge
	// classBadRecord: Kafka refuses the record itself.
	classBadRecord
)

func classify(err error) errClass {
	switch {
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return classTooLarge
	case errors.Is(err, kerr.InvalidRecord), errors.Is(err, kerr.CorruptMessage), errors.Is(err, kerr.InvalidTimestamp):
		return classBadRecord
	}
	return classUnavailable
}

// settle accounts for a finished window. franz-go fails every record after
// a rejected batch of the same partition, so the failed records are not
// all guilty: when the error is about records, they are split in halves
// and sent again, until a record failing alone is known to be the culprit.
func (k *Kafka) settle(w *window) {
	var failed []*entry
	var unavailable error
	for _, e := range w.entries {
		if e.state.Load() == stateOK {
			k.delivered(e)
			continue
		}
		kafkaSendErrors.Inc()
		failed = append(failed, e)
		if classify(e.err) == classUnavailable && unavailable == nil {
			unavailable = e.err
		}
	}
	switch {
	case len(failed) == 0:
		if k.windowCap < k.limits.windowBytes {
			k.windowCap = min(k.windowCap+k.windowCap/4+1, k.limits.windowBytes)
		}
	case unavailable != nil:
		k.markDown(fmt.Errorf("kafka %v: producing: %w", k.cfg.Brokers, unavailable))
		k.retry = append([][]*entry{failed}, k.retry...)
	case len(failed) == 1:
		k.reject(failed[0])
	default:
		half := len(failed) / 2
		k.retry = append([][]*entry{failed[:half], failed[half:]}, k.retry...)
		var n int64
		for _, e := range failed {
			n += e.size
		}
		k.windowCap = max(min(k.windowCap, n/2), 1)
	}
}

func (k *Kafka) delivered(e *entry) {
	kafkaSent.Inc()
	metrics.Pairs.WithLabelValues(e.protocol).Inc()
	if e.spooled {
		k.spool.Ack(e.ref)
	}
	k.release(e)
}

// reject drops a record Kafka refused on its own.
func (k *Kafka) reject(e *entry) {
	reason := metrics.ReasonSinkError
	if classify(e.err) == classTooLarge {
		reason = metrics.ReasonKafkaTooLarge
	}
	k.drop(reason, 1)
	if k.limiter.allow(reason) {
		k.log.Warn("kafka rejected a record; dropped", "reason", reason, "bytes", len(e.rec.Value), "err", e.err)
	}
	if e.spooled {
		k.spool.Ack(e.ref)
	}
	k.release(e)
}
