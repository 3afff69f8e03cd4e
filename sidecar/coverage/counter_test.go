package coverage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podtap/podtap/internal/schematest"
)

var (
	api   = netip.MustParseAddrPort("10.0.0.2:8080")
	shop  = netip.MustParseAddrPort("[2001:db8::7]:443")
	grpcS = netip.MustParseAddrPort("10.0.0.2:50051")
)

func build(t *testing.T, c *Counter, g prometheus.Gatherer) (Report, []byte) {
	t.Helper()
	r := NewReporter(c, g, Pod{Namespace: "shop", Name: "api-0"}, time.Minute, nil)
	rep, err := r.Build(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := schematest.ValidateCoverage(b); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return rep, b
}

func TestCounterReport(t *testing.T) {
	c := NewCounter()
	for range 3 {
		c.Conn(api, "http1")
	}
	c.Conn(api, "ignored")
	c.Pair(api, "http/1.1", false)
	c.Pair(api, "http/1.1", false)
	c.Drop(api, "status")
	c.Drop(api, "response_timeout")
	c.Drop(api, "status")
	c.Conn(shop, "tls")
	c.TLS(shop, "shop.example", "h2,http/1.1", "capture_off")
	c.TLS(shop, "shop.example", "h2,http/1.1", "capture_off")
	c.Conn(grpcS, "http2")
	c.Pair(grpcS, "grpc", true)
	c.GRPC(grpcS, "shop.Cart", true)
	c.GRPC(grpcS, "shop.Hidden", false)
	c.GRPC(grpcS, "shop.Hidden", false)
	e := c.Endpoint(api, "POST", "/users/1234/cards")
	e.Saw("card")
	e.Saw("email")
	c.Endpoint(api, "POST", "/users/99/cards").Saw("card")

	rep, _ := build(t, c, nil)
	want := []Server{
		{Server: "10.0.0.2:50051", Connections: map[string]uint64{"http2": 1}, Pairs: map[string]uint64{"grpc": 1}, Drops: map[string]uint64{}, UnresolvedHeaders: 1},
		{Server: "10.0.0.2:8080", Connections: map[string]uint64{"http1": 3, "ignored": 1}, Pairs: map[string]uint64{"http/1.1": 2}, Drops: map[string]uint64{"status": 2, "response_timeout": 1}},
		{Server: "[2001:db8::7]:443", Connections: map[string]uint64{"tls": 1}, Pairs: map[string]uint64{}, Drops: map[string]uint64{}},
	}
	if got, w := js(t, rep.Servers), js(t, want); got != w {
		t.Errorf("servers:\n got %s\nwant %s", got, w)
	}
	if got, w := js(t, rep.TLS), js(t, []TLS{{Server: "[2001:db8::7]:443", SNI: "shop.example", ALPN: "h2,http/1.1", Reason: "capture_off", Connections: 2}}); got != w {
		t.Errorf("tls:\n got %s\nwant %s", got, w)
	}
	if got, w := js(t, rep.GRPC), js(t, []Service{
		{Server: "10.0.0.2:50051", Service: "shop.Cart", WithSchema: 1},
		{Server: "10.0.0.2:50051", Service: "shop.Hidden", WithoutSchema: 2},
	}); got != w {
		t.Errorf("grpc:\n got %s\nwant %s", got, w)
	}
	if got, w := js(t, rep.Sensitive), js(t, []Endpoint{{Server: "10.0.0.2:8080", Endpoint: "POST /users/{id}/cards", Types: map[string]uint64{"card": 2, "email": 1}}}); got != w {
		t.Errorf("sensitive:\n got %s\nwant %s", got, w)
	}
	if rep.Schema != Schema || rep.Pod.Name != "api-0" || rep.IntervalSeconds != 60 {
		t.Errorf("header: %+v", rep)
	}
}

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCounterBounds: past each bound, new keys count under other, and
// nothing is lost.
func TestCounterBounds(t *testing.T) {
	c := NewCounter()
	const extra = 10
	for i := range MaxServers + extra {
		s := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 80)
		c.Pair(s, "http/1.1", false)
		c.TLS(s, fmt.Sprintf("h%d.example", i), "", "capture_off")
		c.Endpoint(api, "GET", fmt.Sprintf("/p%d", i)).Saw("email")
		c.Endpoint(api, "GET", fmt.Sprintf("/q%d", i)).Saw("email")
	}
	for i := range maxNames + extra {
		c.Drop(api, fmt.Sprintf("reason%d", i))
	}
	rep, _ := build(t, c, nil)
	if len(rep.Servers) != MaxServers+1 {
		t.Fatalf("%d servers, want %d and other", len(rep.Servers), MaxServers)
	}
	other, total := rep.Servers[len(rep.Servers)-1], uint64(0)
	for _, s := range rep.Servers {
		total += s.Pairs["http/1.1"]
	}
	// api itself took a slot, since its drops came after the bound was
	// reached: it counts under other too.
	if other.Server != Other || other.Pairs["http/1.1"] != extra || total != MaxServers+extra {
		t.Errorf("other %+v, total pairs %d", other, total)
	}
	if other.Drops[Other] != extra || len(other.Drops) != maxNames+1 {
		t.Errorf("drops past %d names: %v", maxNames, other.Drops)
	}
	if len(rep.TLS) != MaxTLS+1 || rep.TLS[len(rep.TLS)-1].Connections != extra {
		t.Errorf("tls: %d entries, last %+v", len(rep.TLS), rep.TLS[len(rep.TLS)-1])
	}
	var sum uint64
	for _, e := range rep.Sensitive {
		sum += e.Types["email"]
	}
	if len(rep.Sensitive) != MaxEndpoints+1 || sum != 2*(MaxServers+extra) {
		t.Errorf("sensitive: %d entries, %d counted", len(rep.Sensitive), sum)
	}
}

// TestCounterConcurrent counts from many goroutines at once (run with
// -race): every count arrives.
func TestCounterConcurrent(t *testing.T) {
	c := NewCounter()
	var wg sync.WaitGroup
	const workers, each = 8, 2000
	for w := range workers {
		wg.Go(func() {
			s := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(w % 3)}), 80)
			for range each {
				c.Pair(s, "h2", false)
				c.Drop(s, "gap")
			}
		})
	}
	wg.Wait()
	rep, _ := build(t, c, nil)
	var pairs, drops uint64
	for _, s := range rep.Servers {
		pairs += s.Pairs["h2"]
		drops += s.Drops["gap"]
	}
	if pairs != workers*each || drops != workers*each {
		t.Errorf("pairs %d drops %d, want %d each", pairs, drops, workers*each)
	}
}

func TestShapePath(t *testing.T) {
	for in, want := range map[string]string{
		"/users":                "/users",
		"/users/1234":           "/users/{id}",
		"/users/1234/orders/77": "/users/{id}/orders/{id}",
		"/o/123e4567-e89b-12d3-a456-426614174000/x": "/o/{id}/x",
		"/blob/5d41402abc4b2a76b9719d911017c592":    "/blob/{id}",
		"/v2/api":                                   "/v2/api",
		"/decade/beef":                              "/decade/beef",
		"/shop.Cart/Add":                            "/shop.Cart/Add",
		"/":                                         "/",
		"":                                          "",
		"/a//b":                                     "/a//b",
		"/x/123e4567-e89b-12d3-a456-42661417400g": "/x/123e4567-e89b-12d3-a456-42661417400g",
	} {
		if got := shapePath(in); got != want {
			t.Errorf("shapePath(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { shapePath("/users/me/cards") }); n != 0 {
		t.Errorf("a path without ids allocated %v times", n)
	}
}

// TestSidecarWideCounts reads the sidecar-wide counts from a registry with
// the stages' metric names.
func TestSidecarWideCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	kernel := prometheus.NewCounter(prometheus.CounterOpts{Name: metricKernelDrops, Help: "x"})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricPairsDropped, Help: "x"}, []string{"reason"})
	late := prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricLateJoins, Help: "x"}, []string{"side"})
	reg.MustRegister(kernel, dropped, late)
	kernel.Add(7)
	dropped.WithLabelValues("queue_full").Add(3)
	dropped.WithLabelValues("status").Add(2)
	late.WithLabelValues("client").Add(1)
	late.WithLabelValues("server").Add(2)
	rep, _ := build(t, NewCounter(), reg)
	if rep.KernelDrops != 7 || rep.HTTP2.LateJoins != 3 || js(t, rep.Drops) != `{"queue_full":3,"status":2}` {
		t.Errorf("got kernel %d late %d drops %v", rep.KernelDrops, rep.HTTP2.LateJoins, rep.Drops)
	}
}

func TestWriteTable(t *testing.T) {
	c := NewCounter()
	c.Conn(api, "http1")
	c.Pair(api, "http/1.1", false)
	c.Drop(api, "status")
	c.TLS(shop, "shop.example", "h2", "capture_off")
	c.Endpoint(api, "POST", "/users/7").Saw("email")
	_, b := build(t, c, nil)
	var out bytes.Buffer
	if err := WriteTable(&out, b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pod shop/api-0", "10.0.0.2:8080", "http1=1", "http/1.1=1", "status=1", "shop.example", "POST /users/{id}", "email=1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := WriteTable(&out, []byte(`{"schema":"podtap.pair/v1","id":"x"}`)); err != nil || out.Len() != 0 {
		t.Errorf("a pair printed %q, err %v", out.String(), err)
	}
	if err := WriteTable(&out, []byte(`{`)); err == nil {
		t.Error("a torn record was not an error")
	}
}

// TestCountingTakesNoAllocation: a known server's counts cost no
// allocation per pair.
func TestCountingTakesNoAllocation(t *testing.T) {
	c := NewCounter()
	c.Pair(api, "http/1.1", false)
	c.Drop(api, "status")
	c.Endpoint(api, "POST", "/users").Saw("email")
	if n := testing.AllocsPerRun(1000, func() {
		c.Pair(api, "http/1.1", false)
		c.Drop(api, "status")
		c.Endpoint(api, "POST", "/users").Saw("email")
	}); n != 0 {
		t.Errorf("%v allocations per pair", n)
	}
}

// BenchmarkCountPair is what a sent pair costs the counter: its server's
// pair count, a drop elsewhere on the connection and a sensitive type.
func BenchmarkCountPair(b *testing.B) {
	c := NewCounter()
	e := c.Endpoint(api, "POST", "/users")
	b.ReportAllocs()
	for b.Loop() {
		c.Pair(api, "http/1.1", false)
		c.Drop(api, "status")
		e.Saw("email")
	}
}
