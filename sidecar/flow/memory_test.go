package flow

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

func addrOf(e message.Endpoint) netip.AddrPort { return netip.AddrPortFrom(e.IP, e.Port) }

// heapAlloc is the live heap after a full collection.
func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestIdleHalfOpenConnections opens 10,000 connections that send a SYN and
// one data segment and are never closed. It checks that they cost a bounded
// amount of memory each and that the idle timeout closes every one.
//
// The bound: a tracked connection is reassembly's connection record (about
// 500 B, allocated in slabs that double, so up to twice that), its entry in
// reassembly's map (two 56-byte flows as key), flow's tracked (about 170 B)
// and this test's recorder (about 250 B): about 1.7 KiB, measured. The
// bound is 3 KiB: the delivered bytes must not be kept anywhere, and one
// buffered reassembly page per connection (2 KiB) would break it. Fixed
// costs (batches, page pool) stay under 4 MiB.
//
// Packet time only moves with packets, so a probe connection sends one
// every second to let the timers run.
func TestIdleHalfOpenConnections(t *testing.T) {
	const (
		conns       = 10000
		perConn     = 3 << 10
		fixed       = 4 << 20
		probePeriod = time.Second
	)
	b := newPcap(t, layers.LinkTypeEthernet)
	server := addrPort("10.9.0.1:80")
	probe := addrPort("10.9.255.1:1")
	b.segment(t0, probe, server, 0, 0, "S", nil)
	payload := request(0)
	for i := range conns {
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 8, byte(i >> 8), byte(i)}), uint16(10000+i%50000))
		ts := t0.Add(time.Duration(i) * 100 * time.Microsecond)
		b.segment(ts, client, server, 0, 0, "S", nil)
		b.segment(ts, client, server, 1, 0, "PA", payload)
	}
	lastIdle := t0.Add(conns * 100 * time.Microsecond)
	end := t0.Add(200 * time.Second)
	for i, ts := 0, t0; !ts.After(end); i, ts = i+1, ts.Add(probePeriod) {
		b.segment(ts, probe, server, uint32(1+i), 0, "PA", []byte("p"))
	}
	path := b.close()

	cfg := testConfig()
	cfg.Workers = 1 // so the probe's ticks see every connection's state
	rec := &recorders{}
	gaugeBefore := testutil.ToFloat64(metrics.Connections)
	var (
		openHeap   uint64
		openGauge  float64
		closedTick time.Time
	)
	rec.onNew = func(r *recorder) {
		if addrOf(r.conn.A) != probe {
			return
		}
		r.onTick = func(now time.Time) {
			if openHeap == 0 && now.After(lastIdle.Add(2*time.Second)) {
				openGauge = testutil.ToFloat64(metrics.Connections) - gaugeBefore
				openHeap = heapAlloc()
			}
			if closedTick.IsZero() && testutil.ToFloat64(metrics.Connections)-gaugeBefore == 1 {
				closedTick = now
			}
		}
	}
	base := heapAlloc()
	replay(t, path, cfg, rec)

	if openGauge != conns+1 {
		t.Errorf("connections gauge %v with all open, want %d", openGauge, conns+1)
	}
	growth := int64(openHeap) - int64(base)
	t.Logf("heap growth with %d idle connections open: %d KiB (%d B per connection)", conns, growth>>10, growth/conns)
	if growth > conns*perConn+fixed {
		t.Errorf("heap grew %d KiB for %d idle connections, more than the %d KiB bound", growth>>10, conns, (conns*perConn+fixed)>>10)
	}
	deadline := lastIdle.Add(cfg.IdleTimeout + 2*cfg.FlushInterval)
	if closedTick.IsZero() || closedTick.After(deadline) {
		t.Errorf("idle connections closed by %v, want by +%v", closedTick, deadline.Sub(t0))
	}
	ended := 0
	for _, r := range rec.streams() {
		if addrOf(r.conn.A) == probe {
			continue
		}
		ended++
		if r.ended != 1 || r.endTS.Before(t0.Add(cfg.IdleTimeout)) || r.endTS.After(deadline) {
			t.Fatalf("%v ended %d times at +%v, want once by the idle timeout", r.conn, r.ended, r.endTS.Sub(t0))
		}
	}
	if ended != conns {
		t.Errorf("%d idle connections made streams, want %d", ended, conns)
	}
	if g := testutil.ToFloat64(metrics.Connections) - gaugeBefore; g != 0 {
		t.Errorf("connections gauge %v after the end, want back to 0", g)
	}
}

// TestBufferCaps fills reassembly with out-of-order data behind holes that
// are never filled: past the per-connection and total caps it must skip
// ahead (gaps counted as buffer_full) instead of buffering more.
func TestBufferCaps(t *testing.T) {
	const (
		connCap  = 128 << 10
		totalCap = 1 << 20
		conns    = 40
		chunk    = 1400
		perConn  = 400 // segments after each hole: 560 KB, over connCap
	)
	b := newPcap(t, layers.LinkTypeEthernet)
	server := addrPort("10.9.0.1:80")
	probe := addrPort("10.9.255.2:1")
	b.segment(t0, probe, server, 0, 0, "S", nil)
	data := make([]byte, chunk)
	ts := t0
	for i := range perConn {
		for c := range conns {
			client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 7, 0, byte(c)}), 20000)
			ts = ts.Add(10 * time.Microsecond)
			if i == 0 {
				b.segment(ts, client, server, 0, 0, "S", nil)
				b.segment(ts, client, server, 1, 0, "PA", data[:100])
			}
			// Bytes 101..1100 are never sent: a hole.
			b.segment(ts, client, server, uint32(1101+i*chunk), 0, "PA", data)
		}
		if i%50 == 0 {
			b.segment(ts, probe, server, uint32(1+i), 0, "PA", []byte("p"))
		}
	}
	b.segment(ts.Add(time.Second/2), probe, server, 1000, 0, "PA", []byte("p"))
	path := b.close()

	cfg := testConfig()
	cfg.Workers = 1
	cfg.MaxConnBufferBytes = connCap
	cfg.MaxBufferBytes = totalCap
	cfg.FlushInterval = time.Hour // only the caps may skip here, not the timer
	rec := &recorders{}
	fullBefore := testutil.ToFloat64(metrics.GapBytes.WithLabelValues(GapBufferFull))
	bufferedBefore := testutil.ToFloat64(metrics.ReassemblyBytes)
	base := heapAlloc()
	var peakHeap uint64
	rec.onNew = func(r *recorder) {
		// Sample memory whenever the probe's data arrives: every 50 rounds.
		if addrOf(r.conn.A) == probe {
			r.onData = func() { peakHeap = max(peakHeap, heapAlloc()) }
		}
	}
	replay(t, path, cfg, rec)

	if got := testutil.ToFloat64(metrics.GapBytes.WithLabelValues(GapBufferFull)) - fullBefore; got <= 0 {
		t.Error("no gap counted as buffer_full")
	}
	if peakHeap == 0 {
		t.Fatal("the probe connection delivered nothing")
	}
	if growth := int64(peakHeap) - int64(base); growth > 3*totalCap+4<<20 {
		t.Errorf("heap grew %d KiB while the buffer cap is %d KiB", growth>>10, totalCap>>10)
	}
	delivered := 0
	for _, r := range rec.streams() {
		if addrOf(r.conn.A) == probe {
			continue
		}
		delivered += r.dirs[AtoB].bytes
		if r.gapCount() == 0 {
			t.Errorf("%v: no gap reported over the hole", r.conn)
		}
	}
	if want := conns * (100 + perConn*chunk); delivered != want {
		t.Errorf("delivered %d bytes, want every captured byte (%d)", delivered, want)
	}
	if got := testutil.ToFloat64(metrics.ReassemblyBytes) - bufferedBefore; got != 0 {
		t.Errorf("reassembly gauge %v after the end, want back to 0", got)
	}
}
