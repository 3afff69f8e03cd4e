package flow

// A full flush of reassembly visits every connection it holds, each under
// its lock: about 40 ms per tick with 100,000 idle keep-alive connections
// on this project's test machine, a stall of the worker every second, and
// most of an idle sidecar's CPU. It can do something only when a
// connection holds bytes out of order or has been silent for the idle
// timeout; flow knows both without visiting them, so timers flush only
// then, and otherwise sweep at sweepDivisor times per idle timeout for the
// connections flow no longer tracks (shed or ended ones, whose records
// reassembly keeps until they are idle): those close up to a sweep
// interval past their idle timeout.
const sweepDivisor = 16

// flushDue reports whether a full flush can deliver or close anything, or
// the sweep is due.
func (w *worker) flushDue() bool {
	cfg := w.f.cfg
	// A segment buffered at or after the last flush's time may not have
	// been flushed yet: every one before it was.
	if !w.lastAhead.IsZero() && !w.lastAhead.Before(w.flushedTo) {
		return true
	}
	// The LRU's tail is the tracked connection silent the longest.
	if c := w.lru.tail; c != nil && w.clock.UnixNano()-c.last > int64(cfg.IdleTimeout) {
		return true
	}
	return w.clock.Sub(w.swept) >= max(cfg.FlushInterval, cfg.IdleTimeout/sweepDivisor)
}
