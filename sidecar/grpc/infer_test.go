package grpc

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/grpcdemo"
	"github.com/podtap/podtap/sidecar/filter"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/pair"
)

// unresolved builds the pair of a call whose path HPACK could not
// resolve, to server, with the raw messages given; status < 0 means no
// grpc-status came.
func unresolved(server netip.AddrPort, reqs, resps [][]byte, status int) *message.Pair {
	p := &message.Pair{
		Protocol:  message.ProtoGRPC,
		Server:    message.Endpoint{IP: server.Addr(), Port: server.Port()},
		Direction: message.Inbound,
		Request: &message.Request{Proto: message.ProtoGRPC, Method: "POST", Messages: reqs, Flags: []string{"hpack_unknown"},
			Headers: message.Headers{{Name: ":unknown"}}},
		Response: &message.Response{Proto: message.ProtoGRPC, Status: 200, Messages: resps},
	}
	if status >= 0 {
		p.Response.Trailers = message.Headers{{Name: "grpc-status", Value: strconv.Itoa(status)}}
	}
	p.GRPC = &message.GRPC{}
	pair.Describe(p.GRPC, p.Request, p.Response)
	return p
}

func wire(t testing.TB, msgs ...*dynamicpb.Message) [][]byte {
	t.Helper()
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

func jsonOf(t *testing.T, msgs ...*dynamicpb.Message) [][]byte {
	t.Helper()
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = mustJSON(t, m)
	}
	return out
}

// demoProtoset writes the demo's descriptor set (greeter and catalog).
func demoProtoset(t testing.TB, schema *grpcdemo.Schema) string {
	t.Helper()
	set, err := schema.DescriptorSet(true)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "demo.protoset")
	if err := os.WriteFile(path, set, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func inferenceCount(outcome string) float64 {
	return testutil.ToFloat64(inferences.WithLabelValues(outcome))
}

// TestInferMethod infers the method of calls whose path was not seen from
// the descriptor sets alone: the catalog's calls, whose methods have types
// of their own, resolve; the greeter's, whose four methods share theirs,
// are ambiguous and stay unresolved, as do calls no method fits.
func TestInferMethod(t *testing.T) {
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	c := schema.Catalog
	hello := func(name string) *dynamicpb.Message { return schema.NewRequest(name, 2, nil) }
	reply := func(i int32) *dynamicpb.Message { return schema.NewReply("hello", i, 1, nil) }

	// An Item whose timestamp holds a field Timestamp lacks: only the
	// nested message tells it is not an Item.
	item, err := proto.Marshal(c.NewItem("a-1", 0))
	if err != nil {
		t.Fatal(err)
	}
	oddTime := protowire.AppendTag(nil, 1, protowire.VarintType)
	oddTime = protowire.AppendVarint(oddTime, 7)
	oddTime = protowire.AppendTag(oddTime, 9, protowire.VarintType)
	oddTime = protowire.AppendVarint(oddTime, 1)
	oddItem := protowire.AppendTag(nil, 1, protowire.BytesType)
	oddItem = protowire.AppendString(oddItem, "a-1")
	oddItem = protowire.AppendTag(oddItem, 2, protowire.BytesType)
	oddItem = protowire.AppendString(oddItem, "Item a-1")
	oddItem = protowire.AppendTag(oddItem, 5, protowire.BytesType)
	oddItem = protowire.AppendBytes(oddItem, oddTime)

	type want struct {
		service, method string
		outcome         string
	}
	for _, tc := range []struct {
		name        string
		reqs, resps []*dynamicpb.Message
		rawReqs     [][]byte
		rawResps    [][]byte
		status      int
		want        want
	}{
		{name: "unary", reqs: []*dynamicpb.Message{c.NewItemRef("a-1")}, resps: []*dynamicpb.Message{c.NewItem("a-1", 0)},
			want: want{grpcdemo.CatalogService, grpcdemo.GetItem, inferred}},
		{name: "unary, status unknown", reqs: []*dynamicpb.Message{c.NewItemRef("a-1")}, resps: []*dynamicpb.Message{c.NewItem("a-1", 0)}, status: -1,
			want: want{grpcdemo.CatalogService, grpcdemo.GetItem, inferred}},
		{name: "server streaming", reqs: []*dynamicpb.Message{c.NewItemQuery(3, "p")},
			resps: []*dynamicpb.Message{c.NewItem("p-00", 0), c.NewItem("p-01", 1), c.NewItem("p-02", 2)},
			want:  want{grpcdemo.CatalogService, grpcdemo.ListItems, inferred}},
		{name: "server streaming, one reply", reqs: []*dynamicpb.Message{c.NewItemQuery(1, "p")}, resps: []*dynamicpb.Message{c.NewItem("p-00", 0)},
			want: want{grpcdemo.CatalogService, grpcdemo.ListItems, inferred}},
		{name: "server streaming, no reply", reqs: []*dynamicpb.Message{c.NewItemQuery(0, "p")},
			want: want{grpcdemo.CatalogService, grpcdemo.ListItems, inferred}},
		{name: "client streaming", reqs: []*dynamicpb.Message{c.NewStockDelta("a", 3), c.NewStockDelta("b", -1), c.NewStockDelta("c", 2)},
			resps: []*dynamicpb.Message{c.NewStockSummary(3, 4)},
			want:  want{grpcdemo.CatalogService, grpcdemo.AddStock, inferred}},
		{name: "bidi", reqs: []*dynamicpb.Message{c.NewReservation("a", 2, "o-1"), c.NewReservation("b", 3, "o-2")},
			resps: []*dynamicpb.Message{c.NewReservationResult("o-1", true, 98), c.NewReservationResult("o-2", true, 97)},
			want:  want{grpcdemo.CatalogService, grpcdemo.Reserve, inferred}},
		{name: "greeter unary", reqs: []*dynamicpb.Message{hello("ada")}, resps: []*dynamicpb.Message{reply(2)},
			want: want{outcome: ambiguous}},
		{name: "greeter server streaming", reqs: []*dynamicpb.Message{hello("bob")}, resps: []*dynamicpb.Message{reply(0), reply(1), reply(2)},
			want: want{outcome: ambiguous}},
		{name: "greeter client streaming", reqs: []*dynamicpb.Message{hello("cy"), hello("dee")}, resps: []*dynamicpb.Message{reply(2)},
			want: want{outcome: ambiguous}},
		{name: "failed unary", reqs: []*dynamicpb.Message{c.NewItemRef(grpcdemo.SKUMissing)}, status: 5,
			want: want{outcome: ambiguous}},
		{name: "two requests to single-request methods", reqs: []*dynamicpb.Message{c.NewItemRef("a"), c.NewItemRef("b")},
			resps: []*dynamicpb.Message{c.NewItem("a", 0)}, want: want{outcome: noFit}},
		{name: "nested unknown field", reqs: []*dynamicpb.Message{c.NewItemRef("a-1")}, rawResps: [][]byte{oddItem},
			want: want{outcome: noFit}},
		{name: "sound item, for contrast", reqs: []*dynamicpb.Message{c.NewItemRef("a-1")}, rawResps: [][]byte{item},
			want: want{grpcdemo.CatalogService, grpcdemo.GetItem, inferred}},
		{name: "garbage", rawReqs: [][]byte{{0xff, 0xff, 0xff}}, rawResps: [][]byte{{0x0a, 0x05, 'a'}},
			want: want{outcome: noFit}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.DescriptorSets = []string{demoProtoset(t, schema)}
			cfg.Reflection = "off"
			cfg.EmitUndecoded = true
			e, out := enricher(t, cfg, nil, 1)
			reqs := append(wire(t, tc.reqs...), tc.rawReqs...)
			resps := append(wire(t, tc.resps...), tc.rawResps...)
			before := inferenceCount(tc.want.outcome)
			e.Enrich(unresolved(netip.MustParseAddrPort("127.0.0.1:1"), reqs, resps, tc.status))
			got := out.next(t)
			if n := inferenceCount(tc.want.outcome) - before; n != 1 {
				t.Errorf("outcome %s counted %v times, want once", tc.want.outcome, n)
			}
			g := got.GRPC
			if g.Service != tc.want.service || g.Method != tc.want.method {
				t.Fatalf("inferred %q %q, want %q %q (flags %v)", g.Service, g.Method, tc.want.service, tc.want.method, got.Flags)
			}
			if tc.want.outcome != inferred {
				if got.Request.Path != "" || slices.Contains(got.Flags, FlagMethodInferred) || !slices.Contains(got.Flags, FlagUndecoded) || g.RequestJSON != nil {
					t.Errorf("unresolved pair: path %q flags %v, decoded %v", got.Request.Path, got.Flags, g.RequestJSON != nil)
				}
				return
			}
			if got.Request.Path != "/"+tc.want.service+"/"+tc.want.method || !slices.Contains(got.Flags, FlagMethodInferred) {
				t.Errorf("inferred pair: path %q flags %v", got.Request.Path, got.Flags)
			}
			if !slices.Contains(got.Request.Flags, "hpack_unknown") {
				t.Errorf("request flags %v lost hpack_unknown", got.Request.Flags)
			}
			if len(g.RequestJSON) != len(reqs) || len(g.ResponseJSON) != len(resps) {
				t.Fatalf("%d/%d messages decoded, want %d/%d", len(g.RequestJSON), len(g.ResponseJSON), len(reqs), len(resps))
			}
			for i, j := range jsonOf(t, tc.reqs...) {
				sameJSON(t, g.RequestJSON[i], j)
			}
			for i, j := range jsonOf(t, tc.resps...) {
				sameJSON(t, g.ResponseJSON[i], j)
			}
		})
	}
}

// TestInferKeepsBehaviour: an unresolved call that is not inferred is
// dropped as grpc_no_schema without grpc.emit_undecoded, as before
// inference; a call whose path was seen but is not gRPC's is not
// inferred, nor a call to another server from the pod's descriptor sets;
// and an inferred path meets the filter's path rule.
func TestInferKeepsBehaviour(t *testing.T) {
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	c := schema.Catalog
	cfg := testConfig()
	cfg.DescriptorSets = []string{demoProtoset(t, schema)}
	cfg.Reflection = "off"
	server := netip.MustParseAddrPort("127.0.0.1:1")
	getItem := func() *message.Pair {
		return unresolved(server, wire(t, c.NewItemRef("a")), wire(t, c.NewItem("a", 0)), 0)
	}

	t.Run("ambiguous dropped", func(t *testing.T) {
		e, out := enricher(t, cfg, nil, 1)
		before := dropped(metrics.ReasonGRPCNoSchema)
		e.Enrich(unresolved(server, wire(t, schema.NewRequest("ada", 1, nil)), wire(t, schema.NewReply("hello ada", 1, 1, nil)), 0))
		if got := dropped(metrics.ReasonGRPCNoSchema) - before; got != 1 {
			t.Errorf("%v pairs dropped as grpc_no_schema, want 1", got)
		}
		out.none(t, 0)
	})

	t.Run("path seen", func(t *testing.T) {
		emit := cfg
		emit.EmitUndecoded = true
		e, out := enricher(t, emit, nil, 1)
		p := getItem()
		p.Request.Path = "/not-grpc"
		p.GRPC = &message.GRPC{}
		pair.Describe(p.GRPC, p.Request, p.Response)
		e.Enrich(p)
		got := out.next(t)
		if got.GRPC.Service != "" || got.Request.Path != "/not-grpc" || slices.Contains(got.Flags, FlagMethodInferred) {
			t.Errorf("a seen path was replaced: %q %q flags %v", got.GRPC.Service, got.Request.Path, got.Flags)
		}
	})

	t.Run("filtered path", func(t *testing.T) {
		fc := config.DefaultSidecar().Filter
		fc.DropPaths = []string{"/" + grpcdemo.CatalogService + "/" + grpcdemo.GetItem}
		out := make(collector, 2)
		e, err := NewEnricher(cfg, nil, filter.New(fc), message.NoTally{}, out.out)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Close)
		before := dropped(metrics.ReasonPath)
		e.Enrich(getItem())
		if got := dropped(metrics.ReasonPath) - before; got != 1 {
			t.Errorf("%v inferred pairs dropped by the path rule, want 1", got)
		}
		e.Enrich(unresolved(server, wire(t, c.NewItemQuery(1, "p")), wire(t, c.NewItem("p-00", 0)), 0))
		if got := out.next(t); got.GRPC.Method != grpcdemo.ListItems {
			t.Errorf("inferred %q, want %s", got.GRPC.Method, grpcdemo.ListItems)
		}
		out.none(t, 0)
	})

	t.Run("outbound, descriptor sets only", func(t *testing.T) {
		emit := cfg
		emit.EmitUndecoded = true
		e, out := enricher(t, emit, nil, 1)
		before := inferenceCount(noSchema)
		p := getItem()
		p.Direction = message.Outbound
		e.Enrich(p)
		if got := out.next(t); got.GRPC.Service != "" || slices.Contains(got.Flags, FlagMethodInferred) {
			t.Errorf("an outbound call was inferred from the pod's descriptor sets: %q %q", got.GRPC.Service, got.GRPC.Method)
		}
		if n := inferenceCount(noSchema) - before; n != 1 {
			t.Errorf("no_schema counted %v times, want once", n)
		}
	})

	t.Run("no schema", func(t *testing.T) {
		bare := testConfig()
		bare.Reflection = "off"
		bare.EmitUndecoded = true
		e, out := enricher(t, bare, nil, 1)
		before := inferenceCount(noSchema)
		e.Enrich(getItem())
		got := out.next(t)
		if got.GRPC.Service != "" || !slices.Contains(got.Flags, FlagUndecoded) {
			t.Errorf("pair without a schema: %q flags %v", got.GRPC.Service, got.Flags)
		}
		if n := inferenceCount(noSchema) - before; n != 1 {
			t.Errorf("no_schema counted %v times, want once", n)
		}
	})
}

// countLists wraps the real catalog lookup with a call counter.
func countLists(n *atomic.Int32) listFunc {
	return func(ctx context.Context, server target) (*catalog, error) {
		n.Add(1)
		return reflectCatalog(ctx, server)
	}
}

// TestInferByReflection infers methods among the services a real server
// lists by reflection, fetched once and cached; the reflection service
// itself is never a candidate. Without reflection, the descriptor sets
// are the fallback.
func TestInferByReflection(t *testing.T) {
	d := startDemo(t, grpcdemo.ServerOptions{ReflectionV1: true, Catalog: true})
	c := d.schema.Catalog
	var lists atomic.Int32
	cfg := testConfig()
	cfg.EmitUndecoded = true
	out := make(collector, 10)
	e, err := newEnricher(cfg, nil, message.KeepAll{}, message.NoTally{}, out.out, reflectSchema, countLists(&lists))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	reserve := func() *message.Pair {
		return unresolved(d.addr, wire(t, c.NewReservation("a", 2, "o-1")), wire(t, c.NewReservationResult("o-1", true, 98)), 0)
	}
	for range 3 {
		e.Enrich(reserve())
		got := out.next(t)
		if got.GRPC.Service != grpcdemo.CatalogService || got.GRPC.Method != grpcdemo.Reserve || len(got.GRPC.ResponseJSON) != 1 {
			t.Fatalf("inferred %q %q, flags %v", got.GRPC.Service, got.GRPC.Method, got.Flags)
		}
		sameJSON(t, got.GRPC.ResponseJSON[0], mustJSON(t, c.NewReservationResult("o-1", true, 98)))
	}
	if n := lists.Load(); n != 1 {
		t.Errorf("%d service lists fetched for one server, want 1 (cached)", n)
	}
	e.mu.Lock()
	ent, ok := e.cache.get(key{server: d.addr}, time.Now())
	e.mu.Unlock()
	if !ok || ent.catalog == nil {
		t.Fatal("the server's services are not cached")
	}
	var names []string
	for _, s := range ent.catalog.services {
		names = append(names, string(s.service.FullName()))
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{grpcdemo.CatalogService, grpcdemo.Service}) {
		t.Errorf("catalog of the server: %v, want the catalog and the greeter only", names)
	}

	t.Run("no reflection, descriptor sets", func(t *testing.T) {
		plain := startDemo(t, grpcdemo.ServerOptions{Catalog: true})
		cfg := testConfig()
		cfg.DescriptorSets = []string{demoProtoset(t, plain.schema)}
		e, out := enricher(t, cfg, nil, 1)
		e.Enrich(unresolved(plain.addr, wire(t, c.NewItemRef("a")), wire(t, c.NewItem("a", 0)), 0))
		if got := out.next(t); got.GRPC.Method != grpcdemo.GetItem || len(got.GRPC.RequestJSON) != 1 {
			t.Errorf("inferred %q, flags %v", got.GRPC.Method, got.Flags)
		}
	})
}

// FuzzInfer feeds arbitrary messages to inference over the demo's
// services: it must not panic, and a method it infers must be one the
// messages decode as.
func FuzzInfer(f *testing.F) {
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		f.Fatal(err)
	}
	c := schema.Catalog
	seed := func(req, resp *dynamicpb.Message) {
		r := wire(f, req, resp)
		f.Add(r[0], r[1], 0)
	}
	seed(c.NewItemRef("a"), c.NewItem("a", 0))
	seed(c.NewStockDelta("a", -4), c.NewStockSummary(1, -4))
	seed(schema.NewRequest("ada", 1, []byte{1}), schema.NewReply("x", 1, 2, nil))
	f.Add([]byte{0x0a, 0xff}, []byte{}, 13)
	f.Add([]byte{}, []byte{0x08}, -1)
	set, err := schema.DescriptorSet(true)
	if err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(f.TempDir(), "demo.protoset")
	if err := os.WriteFile(path, set, 0o600); err != nil {
		f.Fatal(err)
	}
	sets, err := loadProtosets([]string{path})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, req, resp []byte, status int) {
		p := unresolved(netip.MustParseAddrPort("127.0.0.1:1"), [][]byte{req}, [][]byte{resp}, min(max(status, -1), 9))
		found, outcome := sets.catalog().infer(p)
		if outcome != inferred {
			return
		}
		if _, _, err := decodeCall(found.schema, string(found.method.Name()), [][]byte{req}, nil); err != nil {
			t.Errorf("inferred %s, but the request does not decode: %v", found.method.FullName(), err)
		}
	})
}

// BenchmarkInfer measures method inference over the demo's eight methods:
// a catalog call (inferred) and a greeter call (ambiguous).
func BenchmarkInfer(b *testing.B) {
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		b.Fatal(err)
	}
	sets, err := loadProtosets([]string{demoProtoset(b, schema)})
	if err != nil {
		b.Fatal(err)
	}
	c := schema.Catalog
	server := netip.MustParseAddrPort("127.0.0.1:1")
	for _, bc := range []struct {
		name    string
		pair    *message.Pair
		outcome string
	}{
		{"inferred", unresolved(server, wire(b, c.NewReservation("a", 2, "o-1")), wire(b, c.NewReservationResult("o-1", true, 98)), 0), inferred},
		{"ambiguous", unresolved(server, wire(b, schema.NewRequest("ada", 2, nil)), wire(b, schema.NewReply("hello ada", 2, 1, nil)), 0), ambiguous},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, outcome := sets.catalog().infer(bc.pair); outcome != bc.outcome {
					b.Fatalf("outcome %s, want %s", outcome, bc.outcome)
				}
			}
		})
	}
}
