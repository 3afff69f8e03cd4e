package flow

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/podtap/podtap/sidecar/message"
)

// TestStalledPartialRequests opens 10,000 connections that each send the
// header block of a JSON POST and the first bytes of its body, then fall
// silent, through the real flow, parse, http1 and pair stages. It reports
// the heap each one holds and checks it is bounded.
//
// The bound: a stalled connection is what an idle keep-alive one holds
// (about 1.5 KiB, see TestIdleKeepAliveConnections), the HTTP/1 parser's
// client direction (416 B), the request with its header block (1 KiB)
// and the body bytes received so far (100 B here, in the smallest body
// buffer, 256 B): about 3.4 KiB, measured. The bound
// is 4 KiB, so that a body buffer sized by the declared Content-Length
// (4 KiB here) before the bytes arrive breaks it. Fixed costs stay under
// 4 MiB.
func TestStalledPartialRequests(t *testing.T) {
	const (
		conns       = 10000
		perConn     = 4 << 10
		fixed       = 4 << 20
		probePeriod = time.Second
		declared    = 4096
	)
	b := newPcap(t, layers.LinkTypeEthernet)
	server := addrPort("10.9.0.1:8080")
	probe := addrPort("10.9.255.1:1")
	b.segment(t0, probe, server, 0, 0, "S", nil)
	ts := t0
	step := func() time.Time { ts = ts.Add(10 * time.Microsecond); return ts }
	for i := range conns {
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 8, byte(i >> 8), byte(i)}), uint16(10000+i%50000))
		req := fmt.Appendf(nil, "POST /api/v1/orders HTTP/1.1\r\nHost: orders:8080\r\nUser-Agent: Go-http-client/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nAccept-Encoding: gzip\r\n\r\n", declared)
		req = fmt.Appendf(req, `{"id":%d,"status":"pending","items":[{"sku":"A-1","qty":1},{"sku":"B-2","qty":3}],`, i)
		cseq, sseq := uint32(1000), uint32(500000)
		b.segment(step(), client, server, cseq, 0, "S", nil)
		b.segment(step(), server, client, sseq, cseq+1, "SA", nil)
		cseq, sseq = cseq+1, sseq+1
		b.segment(step(), client, server, cseq, sseq, "A", nil)
		b.segment(step(), client, server, cseq, sseq, "PA", req)
		cseq += uint32(len(req))
		b.segment(step(), server, client, sseq, cseq, "A", nil)
	}
	lastStalled := ts
	end := t0.Add(10 * time.Second)
	for i, ts := 0, t0; !ts.After(end); i, ts = i+1, ts.Add(probePeriod) {
		b.segment(ts, probe, server, uint32(1+i), 0, "PA", []byte("p"))
	}
	path := b.close()

	growth := heapHeld(t, path, probe, lastStalled, (*message.Pair).Release)
	t.Logf("heap growth with %d stalled partial requests: %d KiB (%d B per connection)", conns, growth>>10, growth/conns)
	if growth > conns*perConn+fixed {
		t.Errorf("heap grew %d KiB for %d stalled connections, more than the %d KiB bound", growth>>10, conns, (conns*perConn+fixed)>>10)
	}
}
