package grpc

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	ggrpc "google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/grpcdemo"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/pair"
)

// demoServer runs the greeter with the given reflection services on a
// loopback port, and records the metadata of every reflection call.
type demoServer struct {
	addr   netip.AddrPort
	schema *grpcdemo.Schema
	mu     sync.Mutex
	seen   []metadata.MD
}

func startDemo(t *testing.T, opts grpcdemo.ServerOptions) *demoServer {
	t.Helper()
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	d := &demoServer{schema: schema}
	opts.GRPC = append(opts.GRPC, ggrpc.StreamInterceptor(func(srv any, ss ggrpc.ServerStream, info *ggrpc.StreamServerInfo, h ggrpc.StreamHandler) error {
		md, _ := metadata.FromIncomingContext(ss.Context())
		d.mu.Lock()
		d.seen = append(d.seen, md)
		d.mu.Unlock()
		return h(srv, ss)
	}))
	srv := grpcdemo.NewServer(schema, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	d.addr = ln.Addr().(*net.TCPAddr).AddrPort()
	return d
}

// pair builds the pair of a unary SayHello call to server.
func (d *demoServer) pair(t *testing.T, server netip.AddrPort, name string) (*message.Pair, []byte, []byte) {
	t.Helper()
	req := d.schema.NewRequest(name, 3, []byte{0, 1, 2}, "a", "b")
	reply := d.schema.NewReply("hello "+name, 3, 1, nil)
	rb, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := proto.Marshal(reply)
	if err != nil {
		t.Fatal(err)
	}
	p := &message.Pair{
		Protocol:  message.ProtoGRPC,
		Server:    message.Endpoint{IP: server.Addr(), Port: server.Port()},
		Direction: message.Inbound,
		Request:   &message.Request{Proto: message.ProtoGRPC, Path: "/" + grpcdemo.Service + "/" + grpcdemo.SayHello, Messages: [][]byte{rb}},
		Response:  &message.Response{Proto: message.ProtoGRPC, Status: 200, Trailers: message.Headers{{Name: "grpc-status", Value: "0"}}, Messages: [][]byte{pb}},
	}
	p.GRPC = &message.GRPC{}
	pair.Describe(p.GRPC, p.Request, p.Response)
	return p, mustJSON(t, req), mustJSON(t, reply)
}

func mustJSON(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameJSON compares JSON values, whatever the spacing protojson chose.
func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("decoded message is not JSON: %s", got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON %s, want %s", got, want)
	}
}

// collector receives enriched pairs.
// enricher starts an Enricher whose pairs go to a collector of size n,
// closed when the test ends.
func enricher(t *testing.T, cfg config.GRPC, podIPs []netip.Addr, n int) (*Enricher, collector) {
	t.Helper()
	out := make(collector, n)
	e, err := NewEnricher(cfg, podIPs, message.KeepAll{}, message.NoTally{}, out.out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e, out
}

type collector chan *message.Pair

func (c collector) out(p *message.Pair) { c <- p }

func (c collector) next(t *testing.T) *message.Pair {
	t.Helper()
	select {
	case p := <-c:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no pair came out")
		return nil
	}
}

func (c collector) none(t *testing.T, wait time.Duration) {
	t.Helper()
	select {
	case p := <-c:
		t.Fatalf("unexpected pair: %+v", p)
	case <-time.After(wait):
	}
}

func testConfig() config.GRPC {
	c := config.DefaultSidecar().GRPC
	c.LookupTimeout = 3 * time.Second
	return c
}

// countLookups wraps the real reflection lookup with a call counter.
func countLookups(n *atomic.Int32) lookupFunc {
	return func(ctx context.Context, server target, service string) (*schema, error) {
		n.Add(1)
		return reflectSchema(ctx, server, service)
	}
}

func dropped(reason string) float64 {
	return testutil.ToFloat64(metrics.PairsDropped.WithLabelValues(reason))
}

func TestEnrichByReflection(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts grpcdemo.ServerOptions
	}{
		{"v1 and v1alpha", grpcdemo.ServerOptions{ReflectionV1: true, ReflectionV1Alpha: true}},
		{"v1 only", grpcdemo.ServerOptions{ReflectionV1: true}},
		{"v1alpha only", grpcdemo.ServerOptions{ReflectionV1Alpha: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startDemo(t, tc.opts)
			out := make(collector, 10)
			var n atomic.Int32
			e, err := newEnricher(testConfig(), nil, message.KeepAll{}, message.NoTally{}, out.out, countLookups(&n), reflectCatalog)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			for i := range 3 {
				p, reqJSON, respJSON := d.pair(t, d.addr, "ada")
				e.Enrich(p)
				got := out.next(t)
				if len(got.GRPC.RequestJSON) != 1 || len(got.GRPC.ResponseJSON) != 1 {
					t.Fatalf("call %d: %d/%d messages decoded, flags %v", i, len(got.GRPC.RequestJSON), len(got.GRPC.ResponseJSON), got.Flags)
				}
				sameJSON(t, got.GRPC.RequestJSON[0], reqJSON)
				sameJSON(t, got.GRPC.ResponseJSON[0], respJSON)
			}
			var resp map[string]any
			p, _, _ := d.pair(t, d.addr, "grace")
			e.Enrich(p)
			if err := json.Unmarshal(out.next(t).GRPC.ResponseJSON[0], &resp); err != nil {
				t.Fatal(err)
			}
			if resp["message"] != "hello grace" || resp["index"] != 3.0 || resp["kind"] != "KIND_GREETING" || resp["at"] != "2024-01-02T03:04:08Z" {
				t.Errorf("decoded reply %v", resp)
			}
			if n.Load() != 1 {
				t.Errorf("%d lookups for one server and service, want 1 (cached)", n.Load())
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			if len(d.seen) == 0 {
				t.Fatal("the server saw no reflection call")
			}
			for _, md := range d.seen {
				if v := md.Get(message.InternalHeader); len(v) != 1 || v[0] != "reflection" {
					t.Errorf("reflection call without %s: %v", message.InternalHeader, md)
				}
			}
		})
	}
}

func TestEnrichWithoutSchema(t *testing.T) {
	d := startDemo(t, grpcdemo.ServerOptions{})
	var n atomic.Int32
	out := make(collector, 10)
	e, err := newEnricher(testConfig(), nil, message.KeepAll{}, message.NoTally{}, out.out, countLookups(&n), reflectCatalog)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	before := dropped(metrics.ReasonGRPCNoSchema)
	for range 3 {
		p, _, _ := d.pair(t, d.addr, "ada")
		e.Enrich(p)
	}
	deadline := time.Now().Add(10 * time.Second)
	for dropped(metrics.ReasonGRPCNoSchema)-before < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := dropped(metrics.ReasonGRPCNoSchema) - before; got != 3 {
		t.Errorf("%v pairs dropped as grpc_no_schema, want 3", got)
	}
	out.none(t, 50*time.Millisecond)
	if n.Load() != 1 {
		t.Errorf("%d lookups, want 1 (the failure is cached)", n.Load())
	}

	cfg := testConfig()
	cfg.EmitUndecoded = true
	undecoded, err := newEnricher(cfg, nil, message.KeepAll{}, message.NoTally{}, out.out, reflectSchema, reflectCatalog)
	if err != nil {
		t.Fatal(err)
	}
	defer undecoded.Close()
	p, _, _ := d.pair(t, d.addr, "ada")
	undecoded.Enrich(p)
	got := out.next(t)
	if got.GRPC.RequestJSON != nil || got.GRPC.Service != grpcdemo.Service || got.GRPC.Method != grpcdemo.SayHello || got.Flags[len(got.Flags)-1] != FlagUndecoded {
		t.Errorf("undecoded pair: %+v flags %v", got.GRPC, got.Flags)
	}
}

func TestEnrichFromDescriptorSet(t *testing.T) {
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	d := &demoServer{schema: schema}
	for _, withImports := range []bool{true, false} {
		set, err := schema.DescriptorSet(withImports)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "greeter.protoset")
		if err := os.WriteFile(path, set, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := testConfig()
		cfg.DescriptorSets = []string{path}
		cfg.Reflection = "off"
		e, out := enricher(t, cfg, nil, 1)
		// No server listens there: the set alone must do.
		p, reqJSON, respJSON := d.pair(t, netip.MustParseAddrPort("127.0.0.1:1"), "linus")
		e.Enrich(p)
		got := out.next(t)
		if len(got.GRPC.RequestJSON) != 1 {
			t.Fatalf("imports %v: not decoded, flags %v", withImports, got.Flags)
		}
		sameJSON(t, got.GRPC.RequestJSON[0], reqJSON)
		sameJSON(t, got.GRPC.ResponseJSON[0], respJSON)
		e.Close()
	}

	bad := filepath.Join(t.TempDir(), "bad.protoset")
	if err := os.WriteFile(bad, []byte("not a descriptor set"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.DescriptorSets = []string{bad}
	if _, err := NewEnricher(cfg, nil, message.KeepAll{}, message.NoTally{}, func(*message.Pair) {}); err == nil {
		t.Error("a corrupt descriptor set loaded without error")
	}
	cfg.DescriptorSets = []string{filepath.Join(t.TempDir(), "missing")}
	if _, err := NewEnricher(cfg, nil, message.KeepAll{}, message.NoTally{}, func(*message.Pair) {}); err == nil {
		t.Error("a missing descriptor set loaded without error")
	}
}

func TestEnrichWhichServers(t *testing.T) {
	d := startDemo(t, grpcdemo.ServerOptions{ReflectionV1: true})
	podIP := []netip.Addr{d.addr.Addr()}
	for _, tc := range []struct {
		reflection string
		direction  string
		podIPs     []netip.Addr
		decoded    bool
	}{
		{"inbound", message.Inbound, nil, true},
		{"inbound", message.Unknown, podIP, true},
		{"inbound", message.Outbound, nil, false},
		{"all", message.Outbound, nil, true},
		{"off", message.Inbound, podIP, false},
	} {
		cfg := testConfig()
		cfg.Reflection = tc.reflection
		cfg.EmitUndecoded = true
		e, out := enricher(t, cfg, tc.podIPs, 1)
		p, _, _ := d.pair(t, d.addr, "ada")
		p.Direction = tc.direction
		e.Enrich(p)
		if got := out.next(t); (got.GRPC.RequestJSON != nil) != tc.decoded {
			t.Errorf("reflection %s, direction %s, pod IPs %v: decoded %v", tc.reflection, tc.direction, tc.podIPs, got.GRPC.RequestJSON != nil)
		}
		e.Close()
	}
}

func TestEnrichPassesOtherPairs(t *testing.T) {
	e, out := enricher(t, testConfig(), nil, 1)
	p := &message.Pair{Protocol: message.ProtoH2, Request: &message.Request{}, Response: &message.Response{}}
	e.Enrich(p)
	if out.next(t) != p {
		t.Error("an h2 pair was not passed on as is")
	}
}

// silentServer accepts connections and never answers: lookups to it wait
// until their timeout.
func silentServer(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func TestEnrichBounds(t *testing.T) {
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	d := &demoServer{schema: schema}
	silent := silentServer(t)

	t.Run("pending timeout", func(t *testing.T) {
		cfg := testConfig()
		cfg.LookupTimeout = 5 * time.Second
		cfg.PendingTimeout = 100 * time.Millisecond
		cfg.EmitUndecoded = true
		e, out := enricher(t, cfg, nil, 1)
		p, _, _ := d.pair(t, silent, "ada")
		start := time.Now()
		e.Enrich(p)
		if took := time.Since(start); took > time.Second {
			t.Errorf("Enrich blocked for %v", took)
		}
		got := out.next(t)
		if waited := time.Since(start); waited > 3*time.Second || got.GRPC.RequestJSON != nil {
			t.Errorf("waited %v for a pending pair with a 100ms limit; decoded %v", waited, got.GRPC.RequestJSON != nil)
		}
	})

	t.Run("pending bytes", func(t *testing.T) {
		cfg := testConfig()
		cfg.LookupTimeout = 30 * time.Second
		p, _, _ := d.pair(t, silent, "ada")
		cfg.PendingBytes = config.ByteSize(p.Size()*2 + 1)
		e, err := NewEnricher(cfg, nil, message.KeepAll{}, message.NoTally{}, func(*message.Pair) {})
		if err != nil {
			t.Fatal(err)
		}
		before := dropped(metrics.ReasonGRPCPendingFull)
		for range 5 {
			p, _, _ := d.pair(t, silent, "ada")
			e.Enrich(p)
		}
		if got := dropped(metrics.ReasonGRPCPendingFull) - before; got != 3 {
			t.Errorf("%v pairs dropped past the pending bytes, want 3", got)
		}
		beforeShutdown := dropped(metrics.ReasonShutdown)
		e.Close()
		if got := dropped(metrics.ReasonShutdown) - beforeShutdown; got != 2 {
			t.Errorf("%v waiting pairs dropped at shutdown, want 2", got)
		}
	})

	t.Run("queue", func(t *testing.T) {
		cfg := testConfig()
		cfg.LookupTimeout = 30 * time.Second
		cfg.QueueSize = 1
		e, err := NewEnricher(cfg, nil, message.KeepAll{}, message.NoTally{}, func(*message.Pair) {})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		before := dropped(metrics.ReasonGRPCPendingFull)
		// Each service is its own lookup: two run, one waits in the
		// queue, the rest find it full.
		for i := range 6 {
			p, _, _ := d.pair(t, silent, "ada")
			p.GRPC.Service = "svc" + string(rune('a'+i))
			e.Enrich(p)
			time.Sleep(20 * time.Millisecond)
		}
		if got := dropped(metrics.ReasonGRPCPendingFull) - before; got != 3 {
			t.Errorf("%v pairs dropped with the lookup queue full, want 3", got)
		}
	})
}
