package flow

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/pair"
	"github.com/podtap/podtap/sidecar/parse"
)

// TestShedConnectionRejoins runs a keep-alive connection, A, through the
// real flow, parse, http1 and pair stages under a cap of one connection:
// A carries an exchange and falls silent; B opens and evicts it; A's next
// exchange comes while B is busy and is refused; once B is silent, A's
// third exchange evicts B, and A, tracked again across the bytes it sent
// while shed, yields that exchange's pair.
func TestShedConnectionRejoins(t *testing.T) {
	b := newPcap(t, layers.LinkTypeEthernet)
	server := addrPort("10.1.0.2:80")
	a := addrPort("10.3.0.1:20000")
	bc := addrPort("10.3.0.2:20001")
	get := func(path string) []byte {
		return fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: orders\r\n\r\n", path)
	}
	ok := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
	// exchange writes a request from client and its response, continuing
	// the connection's sequence numbers.
	exchange := func(ts time.Time, client netip.AddrPort, cseq, sseq *uint32, path string) {
		rq := get(path)
		b.segment(ts, client, server, *cseq, *sseq, "PA", rq)
		*cseq += uint32(len(rq))
		b.segment(ts.Add(time.Millisecond), server, client, *sseq, *cseq, "PA", ok)
		*sseq += uint32(len(ok))
		b.segment(ts.Add(2*time.Millisecond), client, server, *cseq, *sseq, "A", nil)
	}
	acseq, asseq := b.open(t0, a, server)
	exchange(t0.Add(time.Millisecond), a, &acseq, &asseq, "/a/1")
	bcseq, bsseq := b.open(t0.Add(2*time.Second), bc, server)
	exchange(t0.Add(2*time.Second+time.Millisecond), bc, &bcseq, &bsseq, "/b/1")
	exchange(t0.Add(2*time.Second+100*time.Millisecond), a, &acseq, &asseq, "/a/2")
	exchange(t0.Add(4*time.Second), a, &acseq, &asseq, "/a/3")

	sc := config.DefaultSidecar()
	var paths []string
	pairing := &pair.Options{
		Pairing:      sc.Pairing,
		MaxPairBytes: int64(sc.Limits.MaxPairBytes),
		Direction:    pair.NewDirection(nil, false),
		Out: func(p *message.Pair) {
			if p.Request != nil && p.Response != nil {
				paths = append(paths, fmt.Sprintf("%s %d", p.Request.Path, p.Response.Status))
			}
			p.Release()
		},
	}
	cfg := testConfig()
	cfg.Workers = 1
	cfg.MaxConnections = 1
	evictedBefore := testutil.ToFloat64(metrics.ConnectionsShed.WithLabelValues(ShedEvicted))
	refusedBefore := testutil.ToFloat64(metrics.ConnectionsShed.WithLabelValues(ShedRefused))
	lostBefore := testutil.ToFloat64(metrics.GapBytes.WithLabelValues(GapLost))
	src, err := capture.OpenFile(b.close())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f := New(cfg, 1, &parseStreams{f: parse.NewFactory(&sc, message.KeepAll{}, pairing), probe: addrPort("10.9.255.1:1")})
	if err := f.Run(t.Context(), src); err != nil {
		t.Fatal(err)
	}

	slices.Sort(paths)
	if want := []string{"/a/1 200", "/a/3 200", "/b/1 200"}; !slices.Equal(paths, want) {
		t.Errorf("pairs %q, want %q", paths, want)
	}
	if got := testutil.ToFloat64(metrics.ConnectionsShed.WithLabelValues(ShedEvicted)) - evictedBefore; got != 2 {
		t.Errorf("%v connections evicted, want 2 (A by B, B by A)", got)
	}
	if got := testutil.ToFloat64(metrics.ConnectionsShed.WithLabelValues(ShedRefused)) - refusedBefore; got != 1 {
		t.Errorf("%v connections refused, want 1 (A while B was busy)", got)
	}
	if got := testutil.ToFloat64(metrics.GapBytes.WithLabelValues(GapLost)) - lostBefore; got != 0 {
		t.Errorf("%v bytes counted lost, want none: A's bytes while shed were never wanted", got)
	}
	if n := f.conns.Load(); n != 0 {
		t.Errorf("%d connections still counted after the end", n)
	}
}
