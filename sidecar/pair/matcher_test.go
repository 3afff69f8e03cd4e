package pair

import (
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

type collected struct{ pairs []*message.Pair }

func newConn(c *collected) *Matcher {
	opts := &Options{
		Pairing:      config.Pairing{ResponseTimeout: 10 * time.Second, MaxPendingPerConn: 4},
		MaxPairBytes: 1 << 20,
		Direction:    NewDirection([]netip.Addr{netip.MustParseAddr("10.0.0.2")}, false),
		Out:          func(p *message.Pair) { c.pairs = append(c.pairs, p) },
	}
	return NewMatcher(opts,
		message.Endpoint{IP: netip.MustParseAddr("10.0.0.9"), Port: 40000},
		message.Endpoint{IP: netip.MustParseAddr("10.0.0.2"), Port: 80}, message.Tunnel{})
}

func req(path string, ms int) *message.Request {
	return &message.Request{Proto: message.ProtoHTTP11, Method: "GET", Path: path, Start: at(ms), End: at(ms)}
}

func resp(status, ms int) *message.Response {
	return &message.Response{Proto: message.ProtoHTTP11, Status: status, Start: at(ms), End: at(ms)}
}

func dropped(reason string) float64 {
	return testutil.ToFloat64(metrics.PairsDropped.WithLabelValues(reason))
}

func TestFIFOWithPipelining(t *testing.T) {
	var c collected
	conn := newConn(&c)
	conn.Request(req("/a", 0))
	conn.Request(req("/b", 1))
	conn.Request(req("/c", 2))
	conn.Response(resp(200, 3))
	conn.Response(resp(201, 4))
	conn.Response(resp(202, 5))
	if len(c.pairs) != 3 {
		t.Fatalf("%d pairs", len(c.pairs))
	}
	for i, want := range []string{"/a", "/b", "/c"} {
		p := c.pairs[i]
		if p.Request.Path != want || p.Response.Status != 200+i {
			t.Errorf("pair %d: %s -> %d", i, p.Request.Path, p.Response.Status)
		}
		if p.Direction != message.Inbound || p.ID == "" {
			t.Errorf("pair %d: direction %s id %q", i, p.Direction, p.ID)
		}
	}
	if c.pairs[0].ID == c.pairs[1].ID {
		t.Error("ids repeat")
	}
}

func TestAfterGapPairsWithLatestRequestBeforeResponse(t *testing.T) {
	var c collected
	conn := newConn(&c)
	before := dropped(metrics.ReasonGap)
	// The response to /a was lost in a gap; /b's response comes after it.
	conn.Request(req("/a", 0))
	conn.Request(req("/b", 10))
	r := resp(200, 11)
	r.AfterGap = true
	conn.Response(r)
	if len(c.pairs) != 1 || c.pairs[0].Request.Path != "/b" {
		t.Fatalf("pairs %v", c.pairs)
	}
	if got := dropped(metrics.ReasonGap) - before; got != 1 {
		t.Errorf("gap drops %v, want 1", got)
	}
}

func TestOrphansTimeoutsAndClose(t *testing.T) {
	var c collected
	conn := newConn(&c)
	noReq, timeout, noResp, pending := dropped(metrics.ReasonNoRequest), dropped(metrics.ReasonResponseTimeout), dropped(metrics.ReasonNoResponse), dropped(metrics.ReasonPendingLimit)
	conn.Response(resp(200, 0))
	conn.Request(req("/slow", 0))
	conn.Tick(at(10_001))
	for i := range 6 {
		conn.Request(req("/p", 20_000+i))
	}
	conn.Close()
	if len(c.pairs) != 0 {
		t.Fatalf("unexpected pairs %d", len(c.pairs))
	}
	if dropped(metrics.ReasonNoRequest)-noReq != 1 || dropped(metrics.ReasonResponseTimeout)-timeout != 1 ||
		dropped(metrics.ReasonPendingLimit)-pending != 2 || dropped(metrics.ReasonNoResponse)-noResp != 4 {
		t.Errorf("drops: no_request %v timeout %v pending %v no_response %v",
			dropped(metrics.ReasonNoRequest)-noReq, dropped(metrics.ReasonResponseTimeout)-timeout,
			dropped(metrics.ReasonPendingLimit)-pending, dropped(metrics.ReasonNoResponse)-noResp)
	}
}

func TestStreamingResponseIsNotTimedOut(t *testing.T) {
	var c collected
	conn := newConn(&c)
	r := req("/wait", 0)
	conn.Request(r)
	r.Answered = true // headers came; the body streams for a minute
	conn.Tick(at(60_000))
	conn.Response(resp(200, 61_000))
	if len(c.pairs) != 1 {
		t.Fatalf("long-polling pair lost: %d pairs", len(c.pairs))
	}
}

func TestHTTP2ByStream(t *testing.T) {
	var c collected
	conn := newConn(&c)
	for _, id := range []uint32{1, 3, 5} {
		r := req("/s", int(id))
		r.StreamID = id
		r.Proto = message.ProtoH2
		conn.Request(r)
	}
	for _, id := range []uint32{5, 1, 3} {
		r := resp(200, 10+int(id))
		r.StreamID = id
		conn.Response(r)
	}
	if len(c.pairs) != 3 || c.pairs[0].Request.StreamID != 5 || c.pairs[1].Request.StreamID != 1 {
		t.Fatalf("stream pairing wrong: %d pairs", len(c.pairs))
	}
}

func TestParserVerdictsAreCounted(t *testing.T) {
	var c collected
	conn := newConn(&c)
	before := dropped(metrics.ReasonInternal)
	r := req("/healthz", 0)
	r.Drop = metrics.ReasonInternal
	conn.Request(r)
	conn.Response(resp(200, 1))
	if len(c.pairs) != 0 || dropped(metrics.ReasonInternal)-before != 1 {
		t.Fatalf("judged pair not dropped and counted")
	}
}

func TestDirection(t *testing.T) {
	pod := netip.MustParseAddr("10.0.0.2")
	ep := func(ip string, port uint16) message.Endpoint {
		return message.Endpoint{IP: netip.MustParseAddr(ip), Port: port}
	}
	d := NewDirection([]netip.Addr{pod}, false)
	if d.Of(ep("10.0.0.9", 1), ep("10.0.0.2", 80)) != message.Inbound ||
		d.Of(ep("::ffff:10.0.0.2", 1), ep("10.0.0.9", 80)) != message.Outbound ||
		d.Of(ep("10.0.0.8", 1), ep("10.0.0.9", 80)) != message.Unknown {
		t.Error("eth0 directions")
	}
	lo := NewDirection([]netip.Addr{pod}, true)
	if lo.Of(ep("127.0.0.6", 1), ep("127.0.0.1", 8080)) != message.Inbound ||
		lo.Of(ep("127.0.0.1", 1), ep("127.0.0.1", 15001)) != message.Outbound {
		t.Error("loopback directions")
	}
	var none *Direction
	if none.Of(ep("10.0.0.9", 1), ep("10.0.0.2", 80)) != message.Unknown {
		t.Error("nil direction")
	}
}
