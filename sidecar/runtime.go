package sidecar

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// GCPercent is the garbage collector's target the sidecar runs with when
// GOGC is not set. Its heap is mostly per-connection state that lives as
// long as the connections do, and at Go's default of 100 the heap grows to
// twice that before a collection: with 10,000 idle keep-alive connections
// that was 69 MiB of RSS at 100 and 63 MiB at 50 (podtap-bench idle).
// Throughput allocates little (amortized under one allocation per
// packet), so the extra collections cost little CPU.
const GCPercent = 50

// HeapHeadroom is the least the heap may grow between two collections
// when GOGC is not set. GCPercent alone makes a small heap collect after
// every few MiB allocated: a replay's live heap is about 6 MiB, so at 50
// it collected every 3 MiB, and every collection also scans the 5 MiB of
// pointer tables that gopacket's layers package keeps in globals, however
// small the heap. With the headroom the mixed replay runs 5.5-6.1 % fewer
// instructions (callgrind, 250,000 packets, GOMAXPROCS=1: 6,790 M before,
// 6,374 M and 6,414 M in two runs after), and a heap of 32 MiB or more,
// as with thousands of connections, is collected at GCPercent as before.
const HeapHeadroom = 16 << 20

// TuneRuntime applies GCPercent and HeapHeadroom unless the environment
// sets GOGC, which then wins, as it does for any Go program. GOMEMLIMIT
// bounds the heap either way: the collector runs earlier near the limit.
func TuneRuntime() { tuneRuntime() }

// tuneRuntime is TuneRuntime returning the headroom it started, nil when
// GOGC is set, so that a test can stop it.
func tuneRuntime() *headroom {
	if _, set := os.LookupEnv("GOGC"); set {
		return nil
	}
	debug.SetGCPercent(GCPercent)
	h := &headroom{sample: []metrics.Sample{{Name: liveHeap}}, percent: GCPercent}
	h.arm()
	return h
}

// liveHeap is the heap marked live by the last collection.
const liveHeap = "/gc/heap/live:bytes"

// headroom raises the GC percentage after each collection so that the
// next one comes no sooner than HeapHeadroom of allocation.
type headroom struct {
	sample  []metrics.Sample
	percent int
	stopped atomic.Bool
}

// arm has tune run after the next collection: a cleanup runs once the
// collector has found its object unreachable, and each run arms the next.
func (h *headroom) arm() {
	runtime.AddCleanup(new(headroomTick), func(h *headroom) {
		if !h.stopped.Load() {
			h.tune()
			h.arm()
		}
	}, h)
}

// headroomTick is the object whose collection marks a cycle. It is not
// zero-sized, since zero-sized allocations share one address that is
// never collected, and holds a pointer, so that it is not batched with
// other small pointer-free objects, whose block lives as long as any of
// them.
type headroomTick struct{ _ *int }

func (h *headroom) tune() {
	metrics.Read(h.sample)
	if h.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	percent := GCPercent
	if live := h.sample[0].Value.Uint64(); live > 0 && HeapHeadroom*100/live > GCPercent {
		percent = int(HeapHeadroom * 100 / live)
	}
	if percent != h.percent {
		h.percent = percent
		debug.SetGCPercent(percent)
	}
}
