package grpc_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	ggrpc "google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/grpcdemo"
	"github.com/podtap/podtap/sidecar/filter"
	"github.com/podtap/podtap/sidecar/grpc"
	"github.com/podtap/podtap/sidecar/http2"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/pair"
)

// stages are the pipeline after reassembly: the HTTP/2 parser, pairing,
// the filter and enrichment, wired as the sidecar wires them.
type stages struct {
	cfg      config.Sidecar
	filter   *filter.Filter
	enricher *grpc.Enricher
	pairing  pair.Options
	out      chan *message.Pair
}

func newStages(t testing.TB, cfg config.Sidecar) *stages {
	t.Helper()
	s := &stages{cfg: cfg, filter: filter.New(cfg.Filter), out: make(chan *message.Pair, 1024)}
	var err error
	s.enricher, err = grpc.NewEnricher(cfg.GRPC, nil, s.filter, message.NoTally{}, func(p *message.Pair) { s.out <- p })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.enricher.Close)
	s.pairing = pair.Options{
		Pairing:      cfg.Pairing,
		MaxPairBytes: int64(cfg.Limits.MaxPairBytes),
		Direction:    pair.NewDirection(nil, false),
		Out:          s.paired,
	}
	return s
}

func (s *stages) paired(p *message.Pair) {
	if reason := s.filter.Pair(p); reason != "" {
		metrics.Drop(reason)
		return
	}
	s.enricher.Enrich(p)
}

// newConn makes the HTTP/2 parser of one connection, as the parse stage
// configures it.
func (s *stages) newConn(out message.Halves) *http2.Parser {
	return http2.NewParser(http2.Options{
		MaxHeaderBytes: int(s.cfg.Limits.MaxHeaderBytes),
		MaxBodyBytes:   int(s.cfg.Limits.MaxMessageBytes),
		Judge:          s.filter,
	}, out)
}

// replay parses recorded connections, each as the capture of a client
// talking to server.
func (s *stages) replay(t testing.TB, chunks []chunk, server netip.AddrPort) {
	t.Helper()
	type parsed struct {
		h2    *http2.Parser
		pairs *pair.Matcher
	}
	conns := map[int]*parsed{}
	var order []int
	for _, c := range chunks {
		pc := conns[c.conn]
		if pc == nil {
			if c.fromClient && http2.Sniff(c.b) != http2.Preface {
				t.Fatalf("connection %d does not start with the HTTP/2 preface", c.conn)
			}
			client := message.Endpoint{IP: netip.MustParseAddr("127.0.0.1"), Port: uint16(40000 + c.conn)}
			srv := message.Endpoint{IP: server.Addr(), Port: server.Port()}
			pc = &parsed{pairs: pair.NewMatcher(&s.pairing, client, srv, message.Tunnel{})}
			pc.h2 = s.newConn(pc.pairs)
			conns[c.conn] = pc
			order = append(order, c.conn)
		}
		pc.h2.Feed(c.fromClient, c.b, c.ts)
	}
	for _, id := range order {
		conns[id].h2.Close(time.Now())
		conns[id].pairs.Close()
	}
}

// replayLate parses recorded connections whose beginning was not seen,
// as a capture that starts mid-connection: no preface check, and the
// client side fed first.
func (s *stages) replayLate(t *testing.T, chunks []chunk, server netip.AddrPort) {
	t.Helper()
	client := message.Endpoint{IP: netip.MustParseAddr("127.0.0.1"), Port: 40000}
	srv := message.Endpoint{IP: server.Addr(), Port: server.Port()}
	pc := pair.NewMatcher(&s.pairing, client, srv, message.Tunnel{})
	h2 := s.newConn(pc)
	for _, c := range chunks {
		h2.Feed(c.fromClient, c.b, c.ts)
	}
	h2.Close(time.Now())
	pc.Close()
}

func liveConfig() config.Sidecar {
	cfg := config.DefaultSidecar()
	cfg.Filter.Enabled = false
	cfg.GRPC.Reflection = "all"
	cfg.GRPC.LookupTimeout = 5 * time.Second
	cfg.Limits.MaxPairBytes = 2 * config.MiB
	return cfg
}

// TestGRPCThroughProxy drives a real grpc-go client and server (with
// reflection v1 and v1alpha) through a recording loopback proxy and parses
// the recorded bytes: every call must come out as one pair decoded by
// reflection, and podtap's own reflection calls, which go through the same
// proxy, must not.
func TestGRPCThroughProxy(t *testing.T) {
	cs, proxy, recorded := recordCalls(t, grpcdemo.ServerOptions{ReflectionV1: true, ReflectionV1Alpha: true})
	st := newStages(t, liveConfig())
	st.replay(t, recorded, proxy.addr())
	cs.check(collect(t, st.out, len(cs.calls), 15*time.Second))

	// The reflection lookups went through the proxy too: parsed, they must
	// all be dropped as podtap's own.
	proxy.waitIdle(t)
	reflection := proxy.take()
	if len(reflection) == 0 {
		t.Fatal("no reflection connection was recorded")
	}
	before := testutil.ToFloat64(metrics.PairsDropped.WithLabelValues(metrics.ReasonInternal))
	st.replay(t, reflection, proxy.addr())
	if got := testutil.ToFloat64(metrics.PairsDropped.WithLabelValues(metrics.ReasonInternal)) - before; got < 1 {
		t.Errorf("%v reflection pairs dropped as internal, want at least 1", got)
	}
	select {
	case p := <-st.out:
		t.Errorf("a reflection call came out: %s", p.Request.Path)
	case <-time.After(200 * time.Millisecond):
	}
}

// proxiedServer serves the greeter with the given reflection services
// behind a recording proxy and returns a client connection through it.
func proxiedServer(t testing.TB, opts grpcdemo.ServerOptions) (*grpcdemo.Schema, *recordingProxy, *ggrpc.ClientConn) {
	t.Helper()
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	srv := grpcdemo.NewServer(schema, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	proxy := startProxy(t, ln.Addr().(*net.TCPAddr).AddrPort())
	cc, err := ggrpc.NewClient("passthrough:///"+proxy.addr().String(), ggrpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return schema, proxy, cc
}

// recordCalls makes every kind of call (callSet.all) to the greeter behind
// a recording proxy, and returns the calls, the proxy and its recording.
func recordCalls(t *testing.T, opts grpcdemo.ServerOptions) (*callSet, *recordingProxy, []chunk) {
	t.Helper()
	schema, proxy, cc := proxiedServer(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := &callSet{t: t, schema: schema}
	plain, gz := clients(cc, schema)
	cs.all(ctx, plain, gz, "")
	cc.Close()
	proxy.waitIdle(t)
	return cs, proxy, proxy.take()
}

// TestGRPCWithoutReflection: a server without reflection gives no schema;
// its pairs are dropped (grpc_no_schema), or emitted undecoded with
// service and method when configured, or decoded from a descriptor set.
func TestGRPCWithoutReflection(t *testing.T) {
	cs, proxy, recorded := recordCalls(t, grpcdemo.ServerOptions{})

	t.Run("dropped", func(t *testing.T) {
		before := testutil.ToFloat64(metrics.PairsDropped.WithLabelValues(metrics.ReasonGRPCNoSchema))
		st := newStages(t, liveConfig())
		st.replay(t, recorded, proxy.addr())
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && testutil.ToFloat64(metrics.PairsDropped.WithLabelValues(metrics.ReasonGRPCNoSchema))-before < float64(len(cs.calls)) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := testutil.ToFloat64(metrics.PairsDropped.WithLabelValues(metrics.ReasonGRPCNoSchema)) - before; got != float64(len(cs.calls)) {
			t.Errorf("%v pairs dropped as grpc_no_schema, want %d", got, len(cs.calls))
		}
		select {
		case p := <-st.out:
			t.Errorf("a pair came out without a schema: %s", p.Request.Path)
		case <-time.After(100 * time.Millisecond):
		}
	})

	t.Run("undecoded", func(t *testing.T) {
		cfg := liveConfig()
		cfg.GRPC.EmitUndecoded = true
		st := newStages(t, cfg)
		st.replay(t, recorded, proxy.addr())
		pairs := collect(t, st.out, len(cs.calls), 15*time.Second)
		for _, p := range pairs {
			g := p.GRPC
			if g.Service != grpcdemo.Service || g.Method == "" || g.RequestJSON != nil || len(g.RequestMessages) == 0 || !g.HasStatus {
				t.Errorf("undecoded pair: service %q method %q json %v messages %d", g.Service, g.Method, g.RequestJSON != nil, len(g.RequestMessages))
			}
			if p.Flags[len(p.Flags)-1] != grpc.FlagUndecoded {
				t.Errorf("undecoded pair not flagged: %v", p.Flags)
			}
		}
	})

	t.Run("descriptor set", func(t *testing.T) {
		cfg := liveConfig()
		cfg.GRPC.DescriptorSets = []string{protosetFile(t, cs.schema, true)}
		st := newStages(t, cfg)
		st.replay(t, recorded, proxy.addr())
		cs.check(collect(t, st.out, len(cs.calls), 15*time.Second))
	})
}

// lateCalls makes n calls cycling through the greeter's four methods and
// the catalog's four, each with its own deadline as clients usually set,
// and, with requestIDs, a unique x-request-id as traced services send. It
// returns the calls with their messages.
func lateCalls(t *testing.T, schema *grpcdemo.Schema, cl *grpcdemo.Client, from, n int, requestIDs bool) []*call {
	t.Helper()
	c := schema.Catalog
	var calls []*call
	for i := from; i < from+n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if requestIDs {
			ctx = metadata.AppendToOutgoingContext(ctx, "x-request-id", fmt.Sprintf("%08x-%04d", i*7919, i))
		}
		key := "late-" + strconv.Itoa(i)
		req := schema.NewRequest(key, 2, nil)
		lc := &call{service: grpcdemo.Service, key: key, reqs: msgs(req)}
		var reply *dynamicpb.Message
		var replies []*dynamicpb.Message
		var err error
		switch i % 8 {
		case 0:
			lc.method = grpcdemo.SayHello
			reply, err = cl.SayHello(ctx, req)
		case 1:
			lc.method = grpcdemo.StreamReplies
			replies, err = cl.StreamReplies(ctx, req)
		case 2:
			lc.method = grpcdemo.CollectNames
			reply, err = cl.CollectNames(ctx, []*dynamicpb.Message{req})
		case 3:
			lc.method = grpcdemo.Chat
			replies, err = cl.Chat(ctx, []*dynamicpb.Message{req})
		case 4:
			ref := c.NewItemRef(key)
			lc.service, lc.method, lc.reqs = grpcdemo.CatalogService, grpcdemo.GetItem, msgs(ref)
			reply, err = cl.GetItem(ctx, ref)
		case 5:
			q := c.NewItemQuery(2, key)
			lc.service, lc.method, lc.reqs = grpcdemo.CatalogService, grpcdemo.ListItems, msgs(q)
			replies, err = cl.ListItems(ctx, q)
		case 6:
			deltas := []*dynamicpb.Message{c.NewStockDelta(key, int64(i)), c.NewStockDelta(key+"-b", -1)}
			lc.service, lc.method, lc.reqs = grpcdemo.CatalogService, grpcdemo.AddStock, msgs(deltas...)
			reply, err = cl.AddStock(ctx, deltas)
		case 7:
			rs := []*dynamicpb.Message{c.NewReservation(key, 3, fmt.Sprintf("o-%d", i))}
			lc.service, lc.method, lc.reqs = grpcdemo.CatalogService, grpcdemo.Reserve, msgs(rs...)
			replies, err = cl.Reserve(ctx, rs)
		}
		cancel()
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if reply != nil {
			replies = append(replies, reply)
		}
		lc.resps = msgs(replies...)
		calls = append(calls, lc)
	}
	return calls
}

// lateFigures sorts the pairs of late calls: resolved from their path,
// inferred from their messages (grpc_method_inferred), or left unresolved
// and flagged as HPACK left their headers unknown. Resolved and inferred
// pairs must be their call's method with its messages decoded to what
// protojson makes of those sent and received; only the greeter's calls,
// whose methods share their message types, may stay unresolved, and the
// test fails for a late call that did not come out.
func lateFigures(t *testing.T, pairs []*message.Pair, want []*call) (resolved, inferred, unresolved int) {
	t.Helper()
	byKey := map[string]*call{}
	for _, c := range want {
		byKey[c.key] = c
	}
	seen := map[string]bool{}
	for _, p := range pairs {
		g := p.GRPC
		if g == nil {
			t.Errorf("pair without gRPC (protocol %s)", p.Protocol)
			continue
		}
		flags := append(slices.Clone(p.Flags), p.Request.Flags...)
		if g.Service == "" {
			if !slices.Contains(flags, message.FlagHPACKUnknown) {
				t.Errorf("pair neither resolved nor flagged: flags %v", flags)
			}
			if slices.Contains(flags, grpc.FlagMethodInferred) {
				t.Errorf("unresolved pair flagged %s: %v", grpc.FlagMethodInferred, flags)
			}
			unresolved++
			continue
		}
		var first struct{ Name, Sku, Prefix string }
		if len(g.RequestJSON) > 0 {
			json.Unmarshal(g.RequestJSON[0], &first)
		}
		key := cmp.Or(first.Name, first.Sku, first.Prefix)
		c := byKey[key]
		if c == nil {
			t.Errorf("%s/%s: pair of no late call (request %q, flags %v)", g.Service, g.Method, key, flags)
			continue
		}
		if seen[key] {
			t.Errorf("two pairs for %s", key)
		}
		seen[key] = true
		if g.Service != c.service || g.Method != c.method || p.Request.Path != "/"+c.service+"/"+c.method {
			t.Errorf("%s: %s/%s path %q, want %s/%s", key, g.Service, g.Method, p.Request.Path, c.service, c.method)
		}
		sameMessages(t, c.method+"("+key+") request", g.RequestJSON, c.reqs)
		sameMessages(t, c.method+"("+key+") response", g.ResponseJSON, c.resps)
		if !slices.Contains(flags, grpc.FlagMethodInferred) {
			resolved++
			continue
		}
		inferred++
		if !slices.Contains(flags, message.FlagHPACKUnknown) {
			t.Errorf("%s: inferred although its headers resolved: flags %v", key, flags)
		}
	}
	for _, c := range want {
		if c.service == grpcdemo.CatalogService && !seen[c.key] {
			t.Errorf("catalog call %s(%s) neither resolved nor inferred", c.method, c.key)
		}
	}
	if got := resolved + inferred + unresolved; got != len(want) {
		t.Errorf("%d late calls came out (%d resolved, %d inferred, %d unresolved), want %d", got, resolved, inferred, unresolved, len(want))
	}
	return resolved, inferred, unresolved
}

// inferenceCounts reads podtap_grpc_method_inference_total by outcome.
func inferenceCounts(t *testing.T) map[string]float64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "podtap_grpc_method_inference_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// checkInferenceCounts asserts that the inference metric counted each
// inferred pair, and each unresolved one as ambiguous: the greeter's calls
// fit several of its methods, never none.
func checkInferenceCounts(t *testing.T, before map[string]float64, inferred, unresolved int) {
	t.Helper()
	after := inferenceCounts(t)
	for outcome, want := range map[string]int{"inferred": inferred, "ambiguous": unresolved, "none": 0, "no_schema": 0} {
		if got := after[outcome] - before[outcome]; got != float64(want) {
			t.Errorf("podtap_grpc_method_inference_total{outcome=%q} rose by %v, want %d", outcome, got, want)
		}
	}
}

// TestGRPCLateStartThroughProxy makes 50 calls on a connection, then
// starts parsing, then makes 50 more: the parser joins mid-connection with
// a warm HPACK table. Calls that repeat their headers exactly leave every
// entry of the table unknown for as long as they go on, paths included:
// the catalog's calls get their method inferred from their messages, the
// greeter's stay unresolved. Per-call headers (request ids) turn the table
// over, after which the path resolves.
func TestGRPCLateStartThroughProxy(t *testing.T) {
	for _, requestIDs := range []bool{false, true} {
		t.Run(fmt.Sprintf("request ids %v", requestIDs), func(t *testing.T) {
			schema, proxy, cc := proxiedServer(t, grpcdemo.ServerOptions{ReflectionV1: true, Catalog: true})
			cl := grpcdemo.NewClient(cc, schema)
			lateCalls(t, schema, cl, 0, 50, requestIDs)
			proxy.take()
			want := lateCalls(t, schema, cl, 50, 50, requestIDs)
			cc.Close()
			proxy.waitIdle(t)

			cfg := liveConfig()
			cfg.GRPC.EmitUndecoded = true
			st := newStages(t, cfg)
			before := inferenceCounts(t)
			st.replayLate(t, proxy.take(), proxy.addr())
			pairs := collect(t, st.out, len(want), 15*time.Second)
			resolved, inferred, unresolved := lateFigures(t, pairs, want)
			checkInferenceCounts(t, before, inferred, unresolved)
			t.Logf("late start: of the last %d calls %d resolved from the path, %d inferred, %d left unresolved (flagged hpack_unknown)", len(want), resolved, inferred, unresolved)
			if requestIDs && resolved == 0 {
				t.Error("no call resolved although the request ids turned the table over")
			}
			if !requestIDs && inferred == 0 {
				t.Error("no call inferred although every path was unknown")
			}
		})
	}
}
