package parse

import (
	"fmt"
	"strings"
	"testing"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/pair"
)

// TestPendingLimitAppliesToHTTP1: pairing.max_pending_per_conn bounds the
// requests the HTTP/1 parser remembers as it bounds the pair stage, so a
// value above its default keeps a deep pipeline whole. The first request
// is a HEAD: a parser that forgot it would read the next response as the
// body its Content-Length announces.
func TestPendingLimitAppliesToHTTP1(t *testing.T) {
	cfg := config.DefaultSidecar()
	depth := cfg.Pairing.MaxPendingPerConn + 500
	cfg.Pairing.MaxPendingPerConn = depth + 1
	var pairs []*message.Pair
	opts := &pair.Options{
		Pairing:      cfg.Pairing,
		MaxPairBytes: int64(cfg.Limits.MaxPairBytes),
		Out:          func(p *message.Pair) { pairs = append(pairs, p) },
	}
	s := NewFactory(&cfg, message.KeepAll{}, opts).NewStream(message.Conn{A: epA, B: epB, SawSYN: true})

	var reqs, resps strings.Builder
	for i := range depth {
		method, body := "GET", fmt.Sprintf(`{"r":%d}`, i)
		if i == 0 {
			method = "HEAD"
		}
		fmt.Fprintf(&reqs, "%s /r%d HTTP/1.1\r\nHost: shop\r\n\r\n", method, i)
		fmt.Fprintf(&resps, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
		if method == "GET" {
			resps.WriteString(body)
		}
	}
	s.Data(message.AtoB, []byte(reqs.String()), ts)
	s.Data(message.BtoA, []byte(resps.String()), ts.Add(1))
	s.End(ts.Add(2))

	answered := 0
	for _, p := range pairs {
		if p.Response == nil {
			continue
		}
		answered++
		if p.Request.Method == "HEAD" {
			continue
		}
		want := fmt.Sprintf(`{"r":%s}`, strings.TrimPrefix(p.Request.Path, "/r"))
		if got := string(p.Response.Body); got != want {
			t.Fatalf("request %s paired with response %s", p.Request.Path, got)
		}
	}
	if answered != depth {
		t.Fatalf("%d of %d pipelined requests paired with their responses (pairing.max_pending_per_conn %d)",
			answered, depth, cfg.Pairing.MaxPendingPerConn)
	}
}
