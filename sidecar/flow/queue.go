package flow

import (
	"time"

	"github.com/podtap/podtap/sidecar/statelog"
)

// The reader's queue of each worker is its batches: one being filled,
// the rest queued or in work. A worker starts with batchesPerWorker and,
// live, the reader makes more while the worker is behind, up to its share
// of flow.queue_bytes, so that a held-up worker (a garbage collection, a slow
// stage, CPU throttling) makes packets wait in process memory while the
// reader goes on emptying the kernel's ring. Past the share the reader
// drops packets itself, counted and logged with the setting at fault,
// rather than stop reading and leave the kernel to drop without saying
// which setting would have helped. Spare batches go back to the collector
// once the worker has caught up.

// maxBatchesFor is each of workers' share of queueBytes in batches; never
// fewer than batchesPerWorker.
func maxBatchesFor(queueBytes int64, workers int) int {
	return max(batchesPerWorker, int(queueBytes/arenaBytes)/max(workers, 1))
}

// takeBatch returns worker i's batch being filled, taking a free one or
// making one within the worker's share; nil when the share is used up.
func (r *reader) takeBatch(i int) *batch {
	if r.cur[i] != nil {
		return r.cur[i]
	}
	select {
	case b := <-r.workers[i].free:
		r.cur[i] = b
	default:
		if r.made[i] < r.maxBatches {
			r.made[i]++
			r.cur[i] = newBatch()
		}
	}
	return r.cur[i]
}

// nextBatch is the batch for a packet of worker i: live, nil when the
// queue is full; from a file, one the reader waits for.
func (r *reader) nextBatch(i int) *batch {
	if r.live {
		return r.takeBatch(i)
	}
	return r.batchFor(i)
}

// batchFor is takeBatch that waits for a free batch when the share is used
// up: for the timers, which must reach every worker.
func (r *reader) batchFor(i int) *batch {
	if b := r.takeBatch(i); b != nil {
		return b
	}
	r.cur[i] = <-r.workers[i].free
	return r.cur[i]
}

// trim lets the collector have the batches a worker no longer needs: the
// free ones past batchesPerWorker, once nothing waits in its queue.
func (r *reader) trim() {
	for i, w := range r.workers {
		for r.made[i] > batchesPerWorker && len(w.in) == 0 {
			select {
			case <-w.free:
				r.made[i]--
				continue
			default:
			}
			break
		}
	}
}

// queueLog reports packets dropped at a full queue: a WARN when drops
// start, reminders while they go on, an INFO once a tick passes without.
type queueLog struct {
	state      *statelog.State
	queueBytes int64
}

func newQueueLog(queueBytes int64, now func() time.Time) queueLog {
	return queueLog{queueBytes: queueBytes, state: statelog.New(statelog.Config{
		Degraded:  "dropping packets: the reassembly workers are behind and their queue is full",
		Recovered: "no longer dropping packets at the queue",
		Now:       now,
	})}
}

// tick takes the packets dropped at the queue since the previous tick.
func (l *queueLog) tick(dropped uint64) {
	if dropped == 0 {
		l.state.Recover("flow.queue_bytes", l.queueBytes)
		return
	}
	l.state.DegradeLost(IgnoredQueueFull, IgnoredQueueFull, int(dropped),
		"setting", "flow.queue_bytes", "flow.queue_bytes", l.queueBytes)
}
