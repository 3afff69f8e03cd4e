package flow

import (
	"math"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"time"
)

const (
	// Live heap above pressureNum/pressureDen of the Go memory limit is
	// memory pressure: the connection cap assumes small connections, and
	// connections that each hold a large partial message (a header block
	// up to limits.max_header_bytes, a body up to limits.max_message_bytes)
	// can reach the limit below the cap.
	pressureNum, pressureDen = 4, 5
	// pressureShedDiv: each flush interval under pressure, a worker sheds
	// up to this fraction of its connections, those silent the longest.
	// The live heap is read as of the last collection, so shedding is
	// gradual rather than all at once on a stale figure.
	pressureShedDiv = 8
)

// heapLive is the live heap as of the last collection.
var heapLive = [1]rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}

// memoryPressed reports whether the live heap is near the Go memory
// limit. Only the reader's goroutine calls it.
func memoryPressed() bool {
	limit := debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 {
		return false
	}
	rtmetrics.Read(heapLive[:])
	if heapLive[0].Value.Kind() != rtmetrics.KindUint64 {
		return false
	}
	return heapLive[0].Value.Uint64() > uint64(limit/pressureDen*pressureNum)
}

// shedPressed sheds, under memory pressure, up to 1/pressureShedDiv of
// the worker's connections that have been silent for a flush interval,
// the longest silent first.
func (w *worker) shedPressed(now time.Time) {
	for range max(len(w.conns)/pressureShedDiv, 1) {
		if !w.evict(now, w.f.cfg.FlushInterval) {
			return
		}
		w.shedPressure.Inc()
		w.f.shed.Add(1)
	}
}
