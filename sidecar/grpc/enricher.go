package grpc

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

// Flags the enrich stage sets on pairs.
const (
	// FlagUndecoded: no schema, the messages are kept raw (base64).
	FlagUndecoded = "grpc_undecoded"
	// FlagDecodeError: a schema was found but the messages did not fit it.
	FlagDecodeError = "grpc_decode_error"
)

// lookupWorkers is how many reflection lookups run at once: lookups are
// rare (one per server and service per cache TTL) and mostly wait on the
// network.
const lookupWorkers = 2

// Enricher is the enrich stage: it decodes the messages of gRPC pairs to
// JSON with the schema of their service, from descriptor sets first, then
// from the server's reflection service. Lookups run on their own
// goroutines from a bounded queue; pairs wait for them in bounded memory
// and time, so Enrich never blocks. Other pairs pass straight through.
type Enricher struct {
	cfg    config.GRPC
	podIPs []netip.Addr
	out    func(*message.Pair)
	sets   *protosets
	lookup lookupFunc

	queue     chan key
	stop      chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	workers   sync.WaitGroup
	closeOnce sync.Once

	mu    sync.Mutex
	cache *cache
	// waiting holds the pairs of each lookup in flight; a key is present
	// while its lookup is queued or running.
	waiting map[key][]*waiter
	bytes   int64
	closed  bool
}

type waiter struct {
	pair     *message.Pair
	size     int64
	deadline time.Time
}

// NewEnricher loads the descriptor sets of cfg and starts the lookup
// goroutines. podIPs are the pod's own addresses: a call to one of them is
// inbound, and its server is the pod's, reachable for reflection. out
// receives every pair kept, possibly from the Enricher's goroutines.
func NewEnricher(cfg config.GRPC, podIPs []netip.Addr, out func(*message.Pair)) (*Enricher, error) {
	return newEnricher(cfg, podIPs, out, reflectSchema)
}

func newEnricher(cfg config.GRPC, podIPs []netip.Addr, out func(*message.Pair), lookup lookupFunc) (*Enricher, error) {
	e := &Enricher{
		cfg:     cfg,
		out:     out,
		lookup:  lookup,
		queue:   make(chan key, max(cfg.QueueSize, 1)),
		stop:    make(chan struct{}),
		cache:   newCache(),
		waiting: map[key][]*waiter{},
	}
	for _, ip := range podIPs {
		e.podIPs = append(e.podIPs, ip.Unmap())
	}
	if len(cfg.DescriptorSets) > 0 {
		sets, err := loadProtosets(cfg.DescriptorSets)
		if err != nil {
			return nil, err
		}
		e.sets = sets
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	for range lookupWorkers {
		e.workers.Add(1)
		go e.lookups()
	}
	e.workers.Add(1)
	go e.expiry()
	return e, nil
}

// Enrich decodes p's messages, now or once its schema is fetched, and
// hands it to out; a pair that cannot be decoded is dropped
// (grpc_no_schema) or, with grpc.emit_undecoded, handed on raw.
func (e *Enricher) Enrich(p *message.Pair) {
	if p.Protocol != message.ProtoGRPC {
		e.out(p)
		return
	}
	if p.GRPC == nil {
		p.GRPC = Describe(p.Request, p.Response)
	}
	g := p.GRPC
	if s := e.sets.service(g.Service); s != nil {
		e.decode(p, s, "protoset")
		return
	}
	if g.Service == "" || !e.reflectable(p) {
		e.undecoded(p, "none")
		return
	}
	k := keyOf(p)
	now := time.Now()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		e.undecoded(p, "none")
		return
	}
	if ent, ok := e.cache.get(k, now); ok {
		e.mu.Unlock()
		if ent.schema == nil {
			e.undecoded(p, "reflection")
			return
		}
		e.decode(p, ent.schema, "reflection")
		return
	}
	size := p.Size()
	if e.bytes+size > int64(e.cfg.PendingBytes) {
		e.mu.Unlock()
		metrics.Drop(metrics.ReasonGRPCPendingFull)
		return
	}
	ws, inFlight := e.waiting[k]
	if !inFlight {
		select {
		case e.queue <- k:
		default:
			e.mu.Unlock()
			metrics.Drop(metrics.ReasonGRPCPendingFull)
			return
		}
	}
	e.waiting[k] = append(ws, &waiter{pair: p, size: size, deadline: now.Add(e.cfg.PendingTimeout)})
	e.bytes += size
	e.gauges()
	e.mu.Unlock()
}

// reflectable says whether p's server may be asked for its schema.
func (e *Enricher) reflectable(p *message.Pair) bool {
	if !p.Server.IP.IsValid() || p.Server.Port == 0 {
		return false
	}
	switch e.cfg.Reflection {
	case "all":
		return true
	case "inbound":
		return p.Direction == message.Inbound || slices.Contains(e.podIPs, p.Server.IP.Unmap())
	}
	return false
}

// lookups runs queued lookups and settles the pairs waiting on each.
func (e *Enricher) lookups() {
	defer e.workers.Done()
	for k := range e.queue {
		ctx, cancel := context.WithTimeout(e.ctx, e.cfg.LookupTimeout)
		s, err := e.lookup(ctx, k.server, k.service)
		cancel()
		shutdown := err != nil && e.ctx.Err() != nil
		switch {
		case err == nil:
			lookups.WithLabelValues("ok").Inc()
		case errors.Is(err, errNoReflection):
			lookups.WithLabelValues("no_reflection").Inc()
		default:
			lookups.WithLabelValues("error").Inc()
		}
		if err != nil && !shutdown {
			slog.Debug("grpc schema lookup failed", "server", k.server.String(), "service", k.service, "err", err)
		}
		now := time.Now()
		e.mu.Lock()
		switch {
		case err == nil:
			e.cache.put(k, entry{schema: s, expires: now.Add(e.cfg.CacheTTL)}, now)
		case !shutdown:
			e.cache.put(k, entry{err: err, expires: now.Add(e.cfg.NegativeTTL)}, now)
		}
		ws := e.waiting[k]
		delete(e.waiting, k)
		for _, w := range ws {
			e.bytes -= w.size
		}
		e.gauges()
		e.mu.Unlock()
		for _, w := range ws {
			switch {
			case s != nil:
				e.decode(w.pair, s, "reflection")
			case shutdown && !e.cfg.EmitUndecoded:
				metrics.Drop(metrics.ReasonShutdown)
			default:
				e.undecoded(w.pair, "reflection")
			}
		}
	}
}

// expiry settles pairs that waited longer than grpc.pending_timeout.
func (e *Enricher) expiry() {
	defer e.workers.Done()
	t := time.NewTicker(max(e.cfg.PendingTimeout/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			for _, w := range e.expired(now) {
				e.undecoded(w.pair, "none")
			}
		}
	}
}

func (e *Enricher) expired(now time.Time) []*waiter {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*waiter
	for k, ws := range e.waiting {
		kept := ws[:0]
		for _, w := range ws {
			if now.After(w.deadline) {
				out = append(out, w)
				e.bytes -= w.size
				continue
			}
			kept = append(kept, w)
		}
		clear(ws[len(kept):])
		e.waiting[k] = kept
	}
	e.gauges()
	return out
}

// gauges publishes the waiting pairs; e.mu is held.
func (e *Enricher) gauges() {
	n := 0
	for _, ws := range e.waiting {
		n += len(ws)
	}
	pendingPairs.Set(float64(n))
	pendingBytes.Set(float64(e.bytes))
}

// decode fills in the JSON of p's messages from schema s.
func (e *Enricher) decode(p *message.Pair, s *schema, source string) {
	g := p.GRPC
	req, err := s.decode(g.Method, g.RequestMessages, true)
	var resp [][]byte
	if err == nil {
		resp, err = s.decode(g.Method, g.ResponseMessages, false)
	}
	if err != nil {
		if errors.Is(err, errNoMethod) && source == "reflection" {
			// The server's schema may have changed since it was cached.
			e.forget(p)
		}
		slog.Debug("grpc messages do not decode", "service", g.Service, "method", g.Method, "err", err)
		p.Flags = append(p.Flags, FlagDecodeError)
		e.undecoded(p, source)
		return
	}
	g.RequestJSON, g.ResponseJSON = req, resp
	decoded.WithLabelValues("decoded", source).Inc()
	e.out(p)
}

func (e *Enricher) forget(p *message.Pair) {
	e.mu.Lock()
	delete(e.cache.entries, keyOf(p))
	e.mu.Unlock()
}

// undecoded hands on a pair without a usable schema, raw, when
// grpc.emit_undecoded allows it, and drops it otherwise.
func (e *Enricher) undecoded(p *message.Pair, source string) {
	if !e.cfg.EmitUndecoded {
		metrics.Drop(metrics.ReasonGRPCNoSchema)
		return
	}
	p.Flags = append(p.Flags, FlagUndecoded)
	decoded.WithLabelValues("undecoded", source).Inc()
	e.out(p)
}

// closeGrace bounds how long Close lets lookups under way finish.
const closeGrace = time.Second

// Close stops taking lookups, lets those under way finish for a moment,
// then cancels the rest; their pairs are handed on raw
// (grpc.emit_undecoded) or dropped (shutdown). Pairs enriched after Close
// get no lookup.
func (e *Enricher) Close() {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		close(e.queue)
		e.mu.Unlock()
		close(e.stop)
		done := make(chan struct{})
		go func() {
			e.workers.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(min(e.cfg.LookupTimeout, closeGrace)):
			e.cancel()
			<-done
		}
		e.cancel()
	})
}
