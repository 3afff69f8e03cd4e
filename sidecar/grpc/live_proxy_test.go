package grpc_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	ggrpc "google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

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

func newStages(t *testing.T, cfg config.Sidecar) *stages {
	t.Helper()
	s := &stages{cfg: cfg, filter: filter.New(cfg.Filter), out: make(chan *message.Pair, 1024)}
	var err error
	s.enricher, err = grpc.NewEnricher(cfg.GRPC, nil, func(p *message.Pair) { s.out <- p })
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
	if p.Protocol == message.ProtoGRPC {
		p.GRPC = grpc.Describe(p.Request, p.Response)
	}
	if reason := s.filter.Pair(p); reason != "" {
		metrics.Drop(reason)
		return
	}
	s.enricher.Enrich(p)
}

// replay parses recorded connections, each as the capture of a client
// talking to server.
func (s *stages) replay(t *testing.T, chunks []chunk, server netip.AddrPort) {
	t.Helper()
	type parsed struct {
		h2    *http2.Conn
		pairs *pair.Conn
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
			pc = &parsed{pairs: pair.NewConn(&s.pairing, client, srv)}
			pc.h2 = http2.NewConn(http2.Options{
				MaxHeaderBytes: int(s.cfg.Limits.MaxHeaderBytes),
				MaxBodyBytes:   int(s.cfg.Limits.MaxMessageBytes),
				Judge:          s.filter,
			}, pc.pairs)
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
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	srv := grpcdemo.NewServer(schema, grpcdemo.ServerOptions{ReflectionV1: true, ReflectionV1Alpha: true})
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := &callSet{t: t, schema: schema}
	plain, gz := clients(cc, schema)
	cs.all(ctx, plain, gz, "")
	cc.Close()
	proxy.waitIdle(t)

	st := newStages(t, liveConfig())
	st.replay(t, proxy.take(), proxy.addr())
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
