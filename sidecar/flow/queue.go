package flow

import (
	"time"

	"github.com/podtap/podtap/sidecar/statelog"
)

// The reader's queue of each worker is its batches: one being filled,
// the rest queued or in work. A worker starts with batchesPerWorker and,
// live, the reader makes more while the worker is behind, from one budget
// of flow.queue_bytes for all workers, so that a held-up worker (a garbage
// collection, a slow stage, CPU throttling) makes packets wait in process
// memory while the reader goes on emptying the kernel's ring. The budget
// is shared rather than split: connections shard unevenly, and the worker
// with the busiest ones falls behind first, while the others keep up with
// the batches they start with. Past the budget the reader drops packets
// itself, counted and logged with the setting at fault, rather than stop
// reading and leave the kernel to drop every worker's packets without
// saying which setting would have helped. Spare batches go back to the
// collector once the worker has caught up.

// queueBatches is the batches the reader may make for workers in all,
// live: queueBytes of arenas, never fewer than every worker starts with.
func queueBatches(queueBytes int64, workers int) int {
	workers = max(workers, 1)
	return max(workers*batchesPerWorker, int(queueBytes/arenaBytes))
}

// workerBatches is the most batches one of workers can hold: the budget
// less what the others always keep. Its channels have room for them all,
// so that handing a batch over or back never waits.
func workerBatches(queueBytes int64, workers int) int {
	return queueBatches(queueBytes, workers) - (max(workers, 1)-1)*batchesPerWorker
}

// takeBatch returns worker i's batch being filled, taking a free one or
// making one within the budget; nil when the budget is used up. A fresh
// batch carries the tick the worker is owed, if any.
func (r *reader) takeBatch(i int) *batch {
	if r.cur[i] != nil {
		return r.cur[i]
	}
	select {
	case b := <-r.workers[i].free:
		r.cur[i] = b
	default:
		if r.madeAll >= r.maxBatches {
			return nil
		}
		r.made[i]++
		r.madeAll++
		r.cur[i] = newBatch()
	}
	if o := r.owed[i]; o.due {
		r.cur[i].tick, r.cur[i].pressed = r.clock, o.pressed
		r.owed[i] = owedTick{}
	}
	return r.cur[i]
}

// owedTick is a tick a live worker missed because the queue was full
// when it was due (see reader.tick).
type owedTick struct{ due, pressed bool }

// nextBatch is the batch for a packet of worker i: live, nil when the
// queue is full; from a file, one the reader waits for.
func (r *reader) nextBatch(i int) *batch {
	if r.live {
		return r.takeBatch(i)
	}
	return r.batchFor(i)
}

// batchFor is takeBatch that waits for a free batch when there is none:
// for a file, whose reader waits for its workers.
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
				r.madeAll--
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
