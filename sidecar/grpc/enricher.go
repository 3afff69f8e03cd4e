// Package grpc is the enrich stage of gRPC pairs: it finds the schema of
// a call's service, in descriptor sets or from the server's reflection
// service (cached), writes the call's messages as JSON with it (pbjson),
// and infers the method of a call whose path was not seen.
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
	FlagUndecoded   = message.FlagGRPCUndecoded
	FlagDecodeError = message.FlagGRPCDecodeError
)

// lookupWorkers is how many reflection lookups run at once: lookups are
// rare (one per server and service, and one per server for its service
// list, per cache TTL) and mostly wait on the network.
const lookupWorkers = 2

// Enricher is the enrich stage: it decodes the messages of gRPC pairs to
// JSON with the schema of their service, from descriptor sets first, then
// from the server's reflection service. A call whose path was not seen
// (HPACK joined late) has its method inferred among the server's services
// when exactly one fits its messages. Lookups run on their own goroutines
// from a bounded queue; pairs wait for them in bounded memory and time, so
// Enrich never blocks. Other pairs pass straight through.
type Enricher struct {
	cfg    config.GRPC
	podIPs []netip.Addr
	out    func(*message.Pair)
	sets   *protosets
	lookup lookupFunc
	list   listFunc
	// judge re-applies the request rules to a pair whose path was
	// inferred: the filter saw it without one.
	judge message.Judge
	// tally hears the pairs dropped, per server.
	tally message.Tally

	queue     chan key
	stop      chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	workers   sync.WaitGroup
	closeOnce sync.Once

	health lookupHealth

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
	key      key
	size     int64
	deadline time.Time
}

// NewEnricher loads the descriptor sets of cfg and starts the lookup
// goroutines. podIPs are the pod's own addresses: a call to one of them is
// inbound, and its server is the pod's, reachable for reflection. judge's
// request rules are applied again to a pair whose path is inferred, since
// the filter judged it without one. out receives every pair kept,
// possibly from the Enricher's goroutines.
func NewEnricher(cfg config.GRPC, podIPs []netip.Addr, judge message.Judge, tally message.Tally, out func(*message.Pair)) (*Enricher, error) {
	return newEnricher(cfg, podIPs, judge, tally, out, reflectSchema, reflectCatalog)
}

func newEnricher(cfg config.GRPC, podIPs []netip.Addr, judge message.Judge, tally message.Tally, out func(*message.Pair), lookup lookupFunc, list listFunc) (*Enricher, error) {
	e := &Enricher{
		cfg:     cfg,
		tally:   tally,
		out:     out,
		lookup:  lookup,
		list:    list,
		judge:   judge,
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

// Enrich decodes the messages of p, a pair as pairing described it, now or
// once its schema is fetched, and hands it to out; a pair that cannot be
// decoded is dropped (grpc_no_schema) or, with grpc.emit_undecoded, handed
// on raw.
func (e *Enricher) Enrich(p *message.Pair) {
	if p.Protocol != message.ProtoGRPC {
		e.out(p)
		return
	}
	g := p.GRPC
	if g.Service == "" {
		e.enrichUnresolved(p)
		return
	}
	if s := e.sets.service(g.Service); s != nil {
		e.decode(p, s, "protoset")
		return
	}
	if !e.reflectable(p) {
		e.undecoded(p, "none")
		return
	}
	e.await(p, keyOf(p))
}

// enrichUnresolved settles a pair without a service: its method is
// inferred among those the server lists by reflection, or else, for the
// pod's own servers, among those of the descriptor sets.
func (e *Enricher) enrichUnresolved(p *message.Pair) {
	if p.Request == nil || p.Request.Path != "" {
		// A path was seen and is not gRPC's: nothing was lost to infer.
		e.undecoded(p, "none")
		return
	}
	if !e.reflectable(p) {
		e.infer(p, e.setsCatalog(p), "protoset")
		return
	}
	e.await(p, key{server: netip.AddrPortFrom(p.Server.IP.Unmap(), p.Server.Port), tls: p.TLSLibrary != ""})
}

// await settles p from the cached lookup k, or queues the lookup and
// keeps p until it is done.
func (e *Enricher) await(p *message.Pair, k key) {
	now := time.Now()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		e.settle(p, k, nil)
		return
	}
	if ent, ok := e.cache.get(k, now); ok {
		e.mu.Unlock()
		e.settle(p, k, &ent)
		return
	}
	size := p.Size()
	if e.bytes+size > int64(e.cfg.PendingBytes) {
		e.mu.Unlock()
		e.drop(p, metrics.ReasonGRPCPendingFull)
		return
	}
	ws, inFlight := e.waiting[k]
	if !inFlight {
		select {
		case e.queue <- k:
		default:
			e.mu.Unlock()
			e.drop(p, metrics.ReasonGRPCPendingFull)
			return
		}
	}
	e.waiting[k] = append(ws, &waiter{pair: p, key: k, size: size, deadline: now.Add(e.cfg.PendingTimeout)})
	e.bytes += size
	e.gauges()
	e.mu.Unlock()
}

// settle finishes p with the result of its lookup k, nil when there is
// none (closing, or the pair waited too long).
func (e *Enricher) settle(p *message.Pair, k key, ent *entry) {
	if k.service == "" {
		if ent != nil && ent.catalog != nil {
			e.infer(p, ent.catalog, "reflection")
			return
		}
		e.infer(p, e.setsCatalog(p), "protoset")
		return
	}
	switch {
	case ent == nil:
		e.undecoded(p, "none")
	case ent.schema == nil:
		e.undecoded(p, "reflection")
	default:
		e.decode(p, ent.schema, "reflection")
	}
}

// infer gives p the one method of c its messages fit, and decodes them;
// without exactly one, p stays unresolved.
func (e *Enricher) infer(p *message.Pair, c *catalog, source string) {
	if c == nil || len(c.services) == 0 {
		inferences.WithLabelValues(noSchema).Inc()
		e.undecoded(p, "none")
		return
	}
	found, outcome := c.infer(p)
	inferences.WithLabelValues(outcome).Inc()
	if outcome != inferred {
		slog.Debug("grpc method not inferred", "server", p.Server.IP.String(), "port", p.Server.Port, "outcome", outcome)
		e.undecoded(p, source)
		return
	}
	g := p.GRPC
	g.Service, g.Method = string(found.schema.service.FullName()), string(found.method.Name())
	p.Request.Path = "/" + g.Service + "/" + g.Method
	p.Flags = append(p.Flags, FlagMethodInferred)
	if reason := e.judge.JudgeRequest(p.Request); reason != "" {
		e.drop(p, reason)
		return
	}
	e.decode(p, found.schema, source)
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
		return e.own(p)
	}
	return false
}

// own says whether p's server is the pod's.
func (e *Enricher) own(p *message.Pair) bool {
	return p.Direction == message.Inbound || slices.Contains(e.podIPs, p.Server.IP.Unmap())
}

// setsCatalog is what p's method is inferred among when its server's own
// list is not to be had: the descriptor sets, taken to describe the pod's
// own servers only. For another server they may lack its API, and a method
// that happens to fit would be a wrong guess.
func (e *Enricher) setsCatalog(p *message.Pair) *catalog {
	if !e.own(p) {
		return nil
	}
	return e.sets.catalog()
}

// lookups runs queued lookups and settles the pairs waiting on each.
func (e *Enricher) lookups() {
	defer e.workers.Done()
	for k := range e.queue {
		ctx, cancel := context.WithTimeout(e.ctx, e.cfg.LookupTimeout)
		var ent entry
		var err error
		t := target{addr: k.server, tls: k.tls, own: slices.Contains(e.podIPs, k.server.Addr())}
		if k.service == "" {
			ent.catalog, err = e.list(ctx, t)
			ent.catalog = e.sets.overlay(ent.catalog)
		} else {
			ent.schema, err = e.lookup(ctx, t, k.service)
		}
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
		if !shutdown {
			e.health.note(k, err)
		}
		now := time.Now()
		e.mu.Lock()
		switch {
		case err == nil:
			ent.expires = now.Add(e.cfg.CacheTTL)
			e.cache.put(k, ent, now)
		case !shutdown:
			ent = entry{err: err, expires: now.Add(e.cfg.NegativeTTL)}
			e.cache.put(k, ent, now)
		}
		ws := e.waiting[k]
		delete(e.waiting, k)
		for _, w := range ws {
			e.bytes -= w.size
		}
		e.gauges()
		e.mu.Unlock()
		for _, w := range ws {
			if shutdown && !e.cfg.EmitUndecoded {
				e.drop(w.pair, metrics.ReasonShutdown)
				continue
			}
			e.settle(w.pair, k, &ent)
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
				e.settle(w.pair, w.key, nil)
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
	if err := s.decode(g); err != nil {
		if errors.Is(err, errNoMethod) && source == "reflection" {
			// The server's schema may have changed since it was cached.
			e.forget(p)
		}
		slog.Debug("grpc messages do not decode", "service", g.Service, "method", g.Method, "err", err)
		p.Flags = append(p.Flags, FlagDecodeError)
		e.undecoded(p, source)
		return
	}
	decoded.WithLabelValues("decoded", source).Inc()
	e.out(p)
}

func (e *Enricher) forget(p *message.Pair) {
	e.mu.Lock()
	delete(e.cache.entries, keyOf(p))
	e.mu.Unlock()
}

// drop counts p dropped for reason.
func (e *Enricher) drop(p *message.Pair, reason string) {
	metrics.Drop(reason)
	e.tally.DropPair(p, reason)
}

// undecoded hands on a pair without a usable schema, raw, when
// grpc.emit_undecoded allows it, and drops it otherwise.
func (e *Enricher) undecoded(p *message.Pair, source string) {
	if !e.cfg.EmitUndecoded {
		e.drop(p, metrics.ReasonGRPCNoSchema)
		e.health.lost(keyOf(p), metrics.ReasonGRPCNoSchema)
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
