package sink

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/sink/spool"
)

// Close delivers what is queued until ctx's deadline (kafka.shutdown_grace
// when ctx has none), keeping the last part of it to save the rest to the
// spool. Without a spool, or if the spool fails, what is left is counted
// as dropped (shutdown) and reported in the error.
//
// Records that were in flight when Kafka went away are saved too; Kafka
// may have stored some of them, so across a restart delivery is at least
// once.
func (k *Kafka) Close(ctx context.Context) error {
	k.closeOnce.Do(func() { k.closeErr = k.shutdown(ctx) })
	return k.closeErr
}

func (k *Kafka) shutdown(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok && k.cfg.ShutdownGrace > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, k.cfg.ShutdownGrace)
		defer cancel()
	}
	k.closed.Store(true)
	k.qmu.Lock()
	k.closing = true
	k.qmu.Unlock()
	kick(k.sendKick)
	kick(k.spillKick)

	var reserve time.Duration
	var saveBy <-chan time.Time
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		reserve = min(max(left/5, 100*time.Millisecond), 2*time.Second, max(left, 0))
		t := time.NewTimer(left - reserve)
		defer t.Stop()
		saveBy = t.C
	}
	k.awaitDrained(ctx, saveBy)
	close(k.stop)
	k.wg.Wait()
	k.closeClient(max(reserve/2, 100*time.Millisecond))
	err := k.save()
	live.remove(k)
	return err
}

func (k *Kafka) awaitDrained(ctx context.Context, saveBy <-chan time.Time) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !k.drained() {
		select {
		case <-ctx.Done():
			return
		case <-saveBy:
			return
		case <-t.C:
		}
	}
}

// drained reports whether waiting longer gains nothing: everything is
// delivered, or Kafka is down and the spool will keep the rest.
func (k *Kafka) drained() bool {
	k.omu.Lock()
	defer k.omu.Unlock()
	if n, _ := k.memLen(); n > 0 {
		return false
	}
	if k.spool != nil && !k.health.ok() {
		return true
	}
	return k.inflight.Load() == 0 && (k.spool == nil || k.spool.Unread() == 0)
}

// closeClient closes franz-go, which fails what it still holds; a broker
// that does not answer must not eat the time left to save records.
func (k *Kafka) closeClient(wait time.Duration) {
	done := make(chan struct{})
	go func() {
		k.client.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(wait):
		k.log.Warn("kafka client still closing; saving records without waiting", "waited", wait)
	}
}

// save puts what was not delivered into the spool: records taken from the
// memory queue for sending go before everything spooled (they are older),
// the queue's rest after. Spooled records in flight stay where they are:
// unacknowledged, they are read again at the next start.
func (k *Kafka) save() error {
	var inFlight []*entry
	if w := k.cur; w != nil {
		for _, e := range w.entries {
			if e.state.Load() == stateOK {
				k.delivered(e)
			} else if !e.spooled {
				inFlight = append(inFlight, e)
			}
		}
	}
	for _, g := range k.retry {
		for _, e := range g {
			if !e.spooled {
				inFlight = append(inFlight, e)
			}
		}
	}
	queued := k.takeMem(math.MaxInt64, math.MaxInt)

	var errs []error
	lost := 0
	if k.spool == nil {
		lost = len(inFlight) + len(queued)
		metrics.PairsDropped.WithLabelValues(metrics.ReasonShutdown).Add(float64(lost))
	} else {
		if len(inFlight) > 0 {
			k.log.Info("spool: saving records that were in flight, ahead of the spooled ones", "records", len(inFlight))
			out, err := k.spool.Prepend(envelopes(inFlight)...)
			k.countSpool(out, metrics.ReasonShutdown)
			lost += out.Failed
			errs = append(errs, err)
		}
		if len(queued) > 0 {
			out, err := k.spool.Append(envelopes(queued)...)
			k.countSpool(out, metrics.ReasonShutdown)
			lost += out.Failed
			errs = append(errs, err)
		}
		st := k.spool.Stats()
		errs = append(errs, k.spool.Close())
		if st.Records > 0 {
			k.log.Info("spool: records kept for the next start", "records", st.Records, "bytes", st.Bytes, "dir", k.spool.Dir())
		}
	}
	if lost > 0 {
		errs = append(errs, fmt.Errorf("kafka sink: %d records neither delivered nor spooled before the deadline", lost))
	}
	return errors.Join(errs...)
}

func envelopes(es []*entry) []spool.Entry {
	recs := make([]spool.Entry, len(es))
	for i, e := range es {
		recs[i] = spool.Entry{Time: e.rec.Timestamp, Payload: appendEnvelope(nil, e.rec)}
	}
	return recs
}
