package flow

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/pair"
	"github.com/podtap/podtap/sidecar/parse"
)

// probeStream is the Stream of the connection whose packets keep the
// capture clock moving; it runs onTick on every tick.
type probeStream struct{ onTick func(time.Time) }

func (*probeStream) Data(Side, []byte, time.Time) {}
func (*probeStream) Gap(Side, int, time.Time)     {}
func (p *probeStream) Tick(now time.Time)         { p.onTick(now) }
func (*probeStream) End(time.Time)                {}
func (*probeStream) Ignored() bool                { return false }

// parseStreams makes the parse stage's Streams, as the pipeline does, and
// the probe's Stream for the probe connection.
type parseStreams struct {
	f     *parse.Factory
	probe netip.AddrPort
	tick  func(time.Time)
}

func (p *parseStreams) NewStream(c Conn) Stream {
	if addrOf(c.A) == p.probe {
		return &probeStream{onTick: p.tick}
	}
	return p.f.NewStream(c)
}

// TestIdleKeepAliveConnections opens 10,000 connections that each carry
// one HTTP/1.1 JSON exchange through the real flow, parse, http1 and pair
// stages and then stay open, idle. It reports the heap each one holds and
// checks it is bounded.
//
// The bound: an idle connection is reassembly's connection record (about
// 470 B, allocated in slabs that double, so up to twice that) and map
// entry (about 210 B), flow's tracked (176 B) and the parse stage's Stream
// (160 B); its HTTP/1 parser and pair stage's Matcher are let go at rest.
// About 1.5 KiB, measured. The bound is 1.75 KiB, so that keeping the
// parser and Matcher (288 B), a direction's state (448 B) or any buffer on
// every idle connection breaks it. Fixed costs (batches, the capture
// file's buffers) stay under 4 MiB.
func TestIdleKeepAliveConnections(t *testing.T) {
	const (
		conns   = 10000
		perConn = 1792
		fixed   = 4 << 20
	)
	path, probe, lastIdle := heldCapture(t, conns, func(i int) []byte {
		return fmt.Appendf(nil, "GET /api/v1/orders/%d HTTP/1.1\r\nHost: orders:8080\r\nUser-Agent: Go-http-client/1.1\r\nAccept: application/json\r\nAccept-Encoding: gzip\r\n\r\n", i)
	}, func(i int) []byte {
		body := fmt.Sprintf(`{"id":%d,"status":"shipped","total":{"amount":"42.50","currency":"EUR"}}`, i)
		return fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Mon, 23 Nov 2026 15:44:00 GMT\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	})

	pairs := 0
	growth := heapHeld(t, path, probe, lastIdle, func(p *message.Pair) {
		pairs++
		p.Release()
	})
	if pairs != conns {
		t.Fatalf("%d pairs, want %d", pairs, conns)
	}
	t.Logf("heap growth with %d idle keep-alive connections: %d KiB (%d B per connection)", conns, growth>>10, growth/conns)
	if growth > conns*perConn+fixed {
		t.Errorf("heap grew %d KiB for %d idle connections, more than the %d KiB bound", growth>>10, conns, (conns*perConn+fixed)>>10)
	}
}

// heapHeld replays path through the real flow, parse, http1 and pair
// stages on one worker, so that the probe connection's ticks see every
// connection's state, and returns how much the heap grew between the start
// and the first tick 2 s past settled, when the capture's connections hold
// the state being measured. out receives the pairs.
func heapHeld(t *testing.T, path string, probe netip.AddrPort, settled time.Time, out func(*message.Pair)) int64 {
	t.Helper()
	sc := config.DefaultSidecar()
	pairing := &pair.Options{
		Pairing:      sc.Pairing,
		MaxPairBytes: int64(sc.Limits.MaxPairBytes),
		Direction:    pair.NewDirection(nil, false),
		Out:          out,
	}
	var openHeap uint64
	factory := &parseStreams{
		f:     parse.NewFactory(&sc, message.KeepAll{}, pairing),
		probe: probe,
		tick: func(now time.Time) {
			if openHeap == 0 && now.After(settled.Add(2*time.Second)) {
				openHeap = heapAlloc()
			}
		},
	}
	cfg := testConfig()
	cfg.Workers = 1
	base := heapAlloc()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := New(cfg, 1, factory).Run(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	if openHeap == 0 {
		t.Fatal("the probe never ticked after the connections settled")
	}
	return int64(openHeap) - int64(base)
}

// heldCapture writes a capture of conns connections to one server, each
// opened, sending req(i) and answered with resp(i) (with a bare ACK when
// resp is nil), then silent; and a probe connection whose packets tick the
// flow every second for 10 s. It returns the file, the probe and when the
// last connection fell silent.
func heldCapture(t *testing.T, conns int, req, resp func(i int) []byte) (string, netip.AddrPort, time.Time) {
	t.Helper()
	b := newPcap(t, layers.LinkTypeEthernet)
	server := addrPort("10.9.0.1:8080")
	probe := addrPort("10.9.255.1:1")
	b.segment(t0, probe, server, 0, 0, "S", nil)
	ts := t0
	step := func() time.Time { ts = ts.Add(10 * time.Microsecond); return ts }
	for i := range conns {
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 8, byte(i >> 8), byte(i)}), uint16(10000+i%50000))
		rq := req(i)
		cseq, sseq := uint32(1000), uint32(500000)
		b.segment(step(), client, server, cseq, 0, "S", nil)
		b.segment(step(), server, client, sseq, cseq+1, "SA", nil)
		cseq, sseq = cseq+1, sseq+1
		b.segment(step(), client, server, cseq, sseq, "A", nil)
		b.segment(step(), client, server, cseq, sseq, "PA", rq)
		cseq += uint32(len(rq))
		if resp == nil {
			b.segment(step(), server, client, sseq, cseq, "A", nil)
			continue
		}
		rs := resp(i)
		b.segment(step(), server, client, sseq, cseq, "PA", rs)
		sseq += uint32(len(rs))
		b.segment(step(), client, server, cseq, sseq, "A", nil)
	}
	settled := ts
	for i, ts := 0, t0; !ts.After(t0.Add(10 * time.Second)); i, ts = i+1, ts.Add(time.Second) {
		b.segment(ts, probe, server, uint32(1+i), 0, "PA", []byte("p"))
	}
	return b.close(), probe, settled
}
