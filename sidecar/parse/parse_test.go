package parse

import (
	"net/netip"
	"testing"
	"time"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/pair"
)

var (
	epA = message.Endpoint{IP: netip.MustParseAddr("10.0.0.1"), Port: 50000}
	epB = message.Endpoint{IP: netip.MustParseAddr("10.0.0.2"), Port: 80}
	ts  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func newStream(t *testing.T, sawSYN bool) (*Stream, *[]*message.Pair) {
	t.Helper()
	cfg := config.DefaultSidecar()
	var pairs []*message.Pair
	opts := &pair.Options{
		Pairing:      cfg.Pairing,
		MaxPairBytes: int64(cfg.Limits.MaxPairBytes),
		Out:          func(p *message.Pair) { pairs = append(pairs, p) },
	}
	f := NewFactory(&cfg, message.KeepAll{}, opts)
	return f.NewStream(message.Conn{A: epA, B: epB, SawSYN: sawSYN}), &pairs
}

const (
	request  = "GET /orders?id=1 HTTP/1.1\r\nHost: shop\r\n\r\n"
	response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
)

func TestDetectsHTTP1ClientBySyntax(t *testing.T) {
	// A sent the SYN, but B speaks first as the client: bytes decide.
	s, pairs := newStream(t, true)
	s.Data(message.BtoA, []byte(request), ts)
	s.Data(message.AtoB, []byte(response), ts)
	s.End(ts)
	if len(*pairs) != 1 {
		t.Fatalf("%d pairs", len(*pairs))
	}
	p := (*pairs)[0]
	if p.Client != epB || p.Server != epA || p.Request.Query != "id=1" {
		t.Fatalf("client %v server %v query %q", p.Client, p.Server, p.Request.Query)
	}
}

func TestDetectsAcrossSmallSegments(t *testing.T) {
	s, pairs := newStream(t, true)
	for i := range len(request) {
		s.Data(message.AtoB, []byte{request[i]}, ts)
	}
	s.Data(message.BtoA, []byte(response), ts)
	s.End(ts)
	if len(*pairs) != 1 || s.Ignored() {
		t.Fatalf("%d pairs, ignored %v", len(*pairs), s.Ignored())
	}
}

// TestIgnoresOtherProtocols: a connection that is not HTTP is given up
// within flow.detect_bytes of its first bytes, whatever it carries.
func TestIgnoresOtherProtocols(t *testing.T) {
	for name, first := range map[string]string{
		"tls":      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
		"redis":    "*1\r\n$4\r\nPING\r\n",
		"postgres": "\x00\x00\x00\x08\x04\xd2\x16\x2f",
	} {
		t.Run(name, func(t *testing.T) {
			s, pairs := newStream(t, true)
			for sent := 0; !s.Ignored(); sent += len(first) {
				if sent > config.DefaultSidecar().Flow.DetectBytes {
					t.Fatalf("not ignored after %d bytes", sent)
				}
				s.Data(message.AtoB, []byte(first), ts)
			}
			s.Data(message.AtoB, []byte(request), ts)
			s.End(ts)
			if len(*pairs) != 0 {
				t.Fatal("pairs from an ignored connection")
			}
		})
	}
}

func TestMidstreamJoinResyncs(t *testing.T) {
	// Joined inside a response body: the rest of it is skipped, and the
	// next exchange pairs.
	s, pairs := newStream(t, false)
	s.Data(message.BtoA, []byte(`tail of a body"}`+"\r\n"), ts)
	s.Data(message.AtoB, []byte(request), ts)
	s.Data(message.BtoA, []byte(response), ts)
	s.End(ts)
	if len(*pairs) != 1 || (*pairs)[0].Request.Path != "/orders" {
		t.Fatalf("%d pairs", len(*pairs))
	}
}

func TestWebSocketUpgradeStopsParsing(t *testing.T) {
	s, pairs := newStream(t, true)
	s.Data(message.AtoB, []byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"), ts)
	s.Data(message.BtoA, []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello"), ts)
	if !s.Ignored() {
		t.Fatal("connection not ignored after 101")
	}
	s.Data(message.AtoB, []byte(request), ts)
	s.End(ts)
	if len(*pairs) != 1 || (*pairs)[0].Response.Status != 101 {
		t.Fatalf("want the upgrade pair only, got %d", len(*pairs))
	}
}

// TestKeepAliveRests checks that a keep-alive HTTP/1 connection at rest
// lets go of its parser and pairing on a tick, and that its next exchange,
// a gap and a later one are parsed and paired as if it had kept them; a
// connection with a request pending keeps them.
func TestKeepAliveRests(t *testing.T) {
	s, pairs := newStream(t, true)
	s.Data(message.AtoB, []byte(request), ts)
	s.Data(message.BtoA, []byte(response), ts)
	s.Tick(ts.Add(time.Second))
	if s.h1 != nil || s.pairs != nil || !s.resting {
		t.Fatalf("at rest after a tick: parser %v, pairing %v", s.h1 != nil, s.pairs != nil)
	}
	if s.server() != epB {
		t.Fatalf("a resting connection's server is %v, want %v", s.server(), epB)
	}
	s.Data(message.AtoB, []byte(request), ts.Add(2*time.Second))
	if s.h1 == nil || s.resting {
		t.Fatal("the next request did not wake the parser")
	}
	s.Tick(ts.Add(3 * time.Second))
	if s.h1 == nil || s.pairs == nil {
		t.Fatal("a connection with a request pending let go of its parser")
	}
	s.Data(message.BtoA, []byte(response), ts.Add(3*time.Second))
	s.Tick(ts.Add(4 * time.Second))
	s.Gap(message.BtoA, 10, ts.Add(5*time.Second))
	s.Data(message.AtoB, []byte(request), ts.Add(6*time.Second))
	s.Data(message.BtoA, []byte(response), ts.Add(6*time.Second))
	s.End(ts.Add(7 * time.Second))
	if len(*pairs) != 3 {
		t.Fatalf("%d pairs, want 3", len(*pairs))
	}
	for i, p := range *pairs {
		if p.Client != epA || p.Server != epB || p.Request.Query != "id=1" || p.Response.Status != 200 {
			t.Errorf("pair %d: client %v server %v query %q status %d", i, p.Client, p.Server, p.Request.Query, p.Response.Status)
		}
	}
	if last := (*pairs)[2]; !last.Response.AfterGap {
		t.Error("the response after a gap on a resting connection is not marked AfterGap")
	}
}
