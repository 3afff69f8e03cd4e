// Package flow turns packets into reassembled TCP byte streams. One reader
// goroutine decodes the link and IP layers, and shards TCP segments by a
// symmetric hash of their 4-tuple to N workers. Each worker owns its
// connections outright (no locks): it decodes TCP, reassembles both
// sides with gopacket's reassembly, and drives the parse stage through
// the Stream of each connection, every byte stamped with its capture time.
// A hole waits for its retransmission only until the peer acknowledges
// past it (the capture lost it), a flush interval passes, or a buffer cap
// is reached.
package flow

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/capture"
)

// Flow runs decode, sharding and reassembly over one packet source.
type Flow struct {
	cfg        config.Flow
	sampleRate float64
	factory    Factory
	tunnel     Tunnel
	// maxConns is the connection cap, capReason what sets it (see
	// connectionCap).
	maxConns  int
	capReason string
	// conns counts tracked connections across workers, for maxConns; shed
	// counts the connections shed, at the cap or under memory pressure.
	conns, shed atomic.Int64
}

// New prepares a flow stage. cfg fields left zero take their documented
// defaults. sampleRate (capture.sample_rate) keeps a connection iff its
// symmetric hash falls under it; 1 keeps all.
func New(cfg config.Flow, sampleRate float64, f Factory) *Flow {
	def := config.DefaultSidecar().Flow
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxConnBufferBytes <= 0 {
		cfg.MaxConnBufferBytes = def.MaxConnBufferBytes
	}
	if cfg.MaxBufferBytes <= 0 {
		cfg.MaxBufferBytes = def.MaxBufferBytes
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = def.QueueBytes
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = def.MaxConnections
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = def.IdleTimeout
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = def.FlushInterval
	}
	if !(sampleRate > 0 && sampleRate < 1) {
		sampleRate = 1
	}
	maxConns, reason := connectionCap(cfg)
	return &Flow{cfg: cfg, sampleRate: sampleRate, factory: f, maxConns: maxConns, capReason: reason}
}

// Decapsulate decodes VXLAN as t says: in every packet of a vxlan source,
// and in UDP datagrams to t.Port of other sources. Call it before Run.
func (f *Flow) Decapsulate(t Tunnel) { f.tunnel = t }

// Run reads src until EOF (files) or ctx is done (live), then flushes: every
// Stream gets End. It returns when all workers are done. Stopping because
// ctx is done is not an error; a failing source is.
func (f *Flow) Run(ctx context.Context, src capture.Source) error {
	dec, err := newDecoder(src.LinkType(), f.tunnel)
	if err != nil {
		return err
	}
	if f.capReason == capMemory {
		slog.Info("connection cap lowered to what fits the Go memory limit",
			"cap", f.maxConns, "flow.max_connections", f.cfg.MaxConnections)
	}
	if limit := debug.SetMemoryLimit(-1); int64(f.cfg.MaxBufferBytes) > limit/4 {
		slog.Warn("flow.max_buffer_bytes is over a quarter of the Go memory limit: out-of-order data past that share is bounded only by shedding connections under memory pressure",
			"flow.max_buffer_bytes", int64(f.cfg.MaxBufferBytes), "GOMEMLIMIT", limit)
	}
	workers := make([]*worker, f.cfg.Workers)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = newWorker(f, len(workers))
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			w.run()
		}(workers[i])
	}
	r := newReader(f, src, dec, workers)
	readErr := r.run(ctx)
	r.finish()
	wg.Wait()
	if readErr != nil {
		return fmt.Errorf("flow: %w", readErr)
	}
	return nil
}

// admit counts a new connection in, unless maxConns are tracked.
func (f *Flow) admit() bool {
	for {
		n := f.conns.Load()
		if n >= int64(f.maxConns) {
			return false
		}
		if f.conns.CompareAndSwap(n, n+1) {
			return true
		}
	}
}
