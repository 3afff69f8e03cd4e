package sink

import (
	"time"

	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/sink/spool"
)

// spillBatchBytes bounds one Append, so the sender never waits long for
// the order lock.
const spillBatchBytes = 1 << 20

// spillLoop moves records from the memory queue to the spool: all of them
// while Kafka is down (on disk they survive a crash), and the oldest ones
// while the queue is above its high-water mark (Kafka is slower than
// capture, or the spool is being sent and new records must wait).
func (k *Kafka) spillLoop() {
	defer k.wg.Done()
	if k.spool == nil {
		return
	}
	t := time.NewTicker(k.tune.spillTick)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-k.spillKick:
		case <-k.health.wait():
		case <-t.C:
		}
		k.spill()
		k.backlogSent()
	}
}

func (k *Kafka) spill() {
	var target int64
	_, queued := k.memLen()
	switch {
	case !k.health.ok():
		target = 0
	case queued > k.limits.highWater:
		target = k.limits.lowWater
	default:
		return
	}
	k.omu.Lock()
	defer k.omu.Unlock()
	for {
		es := k.takeSpill(target)
		if len(es) == 0 {
			return
		}
		k.appendSpool(es, metrics.ReasonSinkError)
	}
}

// takeSpill takes records from the head of the queue while it holds more
// than target bytes, up to one batch.
func (k *Kafka) takeSpill(target int64) []*entry {
	k.qmu.Lock()
	defer k.qmu.Unlock()
	var out []*entry
	var n int64
	for k.memHead < len(k.memq) && k.memBytes > target && n < spillBatchBytes {
		e := k.memq[k.memHead]
		k.memq[k.memHead] = nil
		k.memHead++
		k.memBytes -= e.size
		n += e.size
		out = append(out, e)
	}
	k.compactMem()
	return out
}

// appendSpool writes records at the end of the spool; records it cannot
// write are dropped as failReason.
func (k *Kafka) appendSpool(es []*entry, failReason string) {
	out, err := k.spool.Append(envelopes(es)...)
	k.outage.Kept(keptSpooled, len(es)-out.Failed)
	k.countSpool(out, failReason)
	if err != nil && k.limiter.allow("spool-append") {
		k.log.Error("spool: writing", "err", err, "records_lost", out.Failed)
	}
}

func (k *Kafka) countSpool(out spool.Outcome, failReason string) {
	if out.Dropped > 0 {
		k.drop(metrics.ReasonSpoolFull, out.Dropped)
		if k.limiter.allow("spool-full") {
			k.log.Warn("spool full; oldest records dropped", "records", out.Dropped, "max_bytes", k.cfg.Spool.MaxBytes)
		}
	}
	if out.Failed > 0 {
		k.drop(failReason, out.Failed)
	}
}
