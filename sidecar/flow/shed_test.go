package flow

import (
	"bytes"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/metrics"
)

// TestConnectionCapFitsMemoryLimit checks that under a Go memory limit the
// connection cap is what fits it, and flow.max_connections when that is
// lower or no limit is set.
func TestConnectionCapFitsMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	cfg := testConfig()

	debug.SetMemoryLimit(256 << 20 / 10 * 9) // as the webhook sets it for 256Mi
	n, reason := connectionCap(cfg)
	limit := 256 << 20 / 10 * 9
	want := (limit/connShareDen*connShareNum - min(int(cfg.MaxBufferBytes), limit/4)) / connFootprint
	if n != want || reason != capMemory {
		t.Errorf("cap %d (%s) under 230 MiB, want %d (%s)", n, reason, want, capMemory)
	}
	if n*3456 > 256<<20/2 {
		t.Errorf("cap %d: as many stalled connections would take more than half of 256 MiB", n)
	}
	cfg.MaxConnections = 1000
	if n, reason := connectionCap(cfg); n != 1000 || reason != capLimit {
		t.Errorf("cap %d (%s) with flow.max_connections 1000, want 1000 (%s)", n, reason, capLimit)
	}
	// A 64Mi container (GOMEMLIMIT 90% of it) with the default 64 MiB
	// buffer cap: a quarter of the limit is kept for buffers, not all of
	// it, so thousands of connections still fit.
	cfg.MaxConnections = 100000
	small := int64(64 << 20 / 10 * 9)
	debug.SetMemoryLimit(small)
	if n, reason := connectionCap(cfg); int64(n) != (small/4*3-small/4)/connFootprint || reason != capMemory || n < 5000 {
		t.Errorf("cap %d (%s) under a 64Mi container, want %d", n, reason, (small/4*3-small/4)/connFootprint)
	}
	debug.SetMemoryLimit(prev)
	if prev == 1<<63-1 {
		if n, reason := connectionCap(cfg); n != 100000 || reason != capLimit {
			t.Errorf("cap %d (%s) without a memory limit, want flow.max_connections", n, reason)
		}
	}
}

// TestMemoryLimitFor checks that under the limit MemoryLimitFor gives,
// the cap holds the connections asked for, and not many more: it is the
// smallest such limit, to two connections' worth.
func TestMemoryLimitFor(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	cfg := testConfig()
	cfg.MaxConnections = 1 << 30
	for _, buffer := range []int64{64 << 20, 1 << 20} {
		cfg.MaxBufferBytes = config.ByteSize(buffer)
		for _, conns := range []int{2, 1000, 29000, 100000, 1000000} {
			limit := MemoryLimitFor(cfg, conns)
			debug.SetMemoryLimit(limit)
			n, _ := connectionCap(cfg)
			debug.SetMemoryLimit(limit - 2*connFootprint)
			less, _ := connectionCap(cfg)
			if n < conns || less >= conns {
				t.Errorf("buffers %d, %d connections: limit %d holds %d, 8 KiB less holds %d", buffer, conns, limit, n, less)
			}
		}
	}
}

// TestShedLogged refuses connections past the cap for a while, then none
// (all come within a flush interval, so none is evicted): each refused one
// is counted once under its reason, a WARN says shedding
// started and an INFO, with the count, that it stopped.
func TestShedLogged(t *testing.T) {
	const conns, limit = 60, 10
	b := newPcap(t, layers.LinkTypeEthernet)
	server := addrPort("10.1.0.2:80")
	probe := addrPort("10.9.255.1:1")
	b.segment(t0, probe, server, 0, 0, "S", nil)
	for i := range conns {
		client := netip.AddrPortFrom(netip.MustParseAddr("10.3.0.1"), uint16(20000+i))
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		b.segment(ts, client, server, 0, 0, "S", nil)
		b.segment(ts, client, server, 1, 0, "PA", request(i))
		b.segment(ts.Add(time.Millisecond), client, server, 1+uint32(len(request(i))), 0, "PA", request(i))
	}
	for i := range 30 {
		b.segment(t0.Add(time.Duration(i)*time.Second), probe, server, uint32(1+i), 0, "PA", []byte("p"))
	}
	var logs bytes.Buffer
	prevLog := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(prevLog) })

	cfg := testConfig()
	cfg.MaxConnections = limit
	shedBefore := testutil.ToFloat64(metrics.ConnectionsShed.WithLabelValues(ShedRefused))
	replay(t, b.close(), cfg, &recorders{})

	shed := testutil.ToFloat64(metrics.ConnectionsShed.WithLabelValues(ShedRefused)) - shedBefore
	if shed != conns+1-limit {
		t.Errorf("%v connections counted as shed, want %d", shed, conns+1-limit)
	}
	out := logs.String()
	warn := strings.Index(out, "level=WARN msg=\"shedding connections")
	info := strings.Index(out, "level=INFO msg=\"no longer shedding connections")
	if warn < 0 || info < warn {
		t.Fatalf("want a WARN when shedding starts and an INFO after it, got:\n%s", out)
	}
	if !strings.Contains(out[info:], "shed=51") || strings.Count(out, "level=WARN") != 1 {
		t.Errorf("want one WARN and an INFO counting 51 shed, got:\n%s", out)
	}
}

// TestShedEvictsSilent opens connections that each send half a request
// and fall silent, a flush interval apart, past the cap: each new one
// evicts the one silent the longest, whose stream ends then, and none is
// refused.
func TestShedEvictsSilent(t *testing.T) {
	const conns, limit = 20, 5
	b := newPcap(t, layers.LinkTypeEthernet)
	server := addrPort("10.1.0.2:80")
	for i := range conns {
		client := netip.AddrPortFrom(netip.MustParseAddr("10.3.0.1"), uint16(20000+i))
		ts := t0.Add(time.Duration(i) * 2 * time.Second)
		b.segment(ts, client, server, 0, 0, "S", nil)
		b.segment(ts, client, server, 1, 0, "PA", []byte("POST /orders HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"))
	}
	cfg := testConfig()
	cfg.Workers = 1
	cfg.MaxConnections = limit
	evictedBefore := testutil.ToFloat64(metrics.ConnectionsShed.WithLabelValues(ShedEvicted))
	refusedBefore := testutil.ToFloat64(metrics.ConnectionsShed.WithLabelValues(ShedRefused))
	rec := &recorders{}
	f := replay(t, b.close(), cfg, rec)

	if got := testutil.ToFloat64(metrics.ConnectionsShed.WithLabelValues(ShedEvicted)) - evictedBefore; got != conns-limit {
		t.Errorf("%v connections evicted, want %d", got, conns-limit)
	}
	if got := testutil.ToFloat64(metrics.ConnectionsShed.WithLabelValues(ShedRefused)) - refusedBefore; got != 0 {
		t.Errorf("%v connections refused, want none", got)
	}
	streams := rec.streams()
	if len(streams) != conns || rec.maxOpen > limit {
		t.Errorf("%d streams, %d open at once; want %d, at most %d at once", len(streams), rec.maxOpen, conns, limit)
	}
	for _, r := range streams {
		if r.ended != 1 {
			t.Errorf("%v ended %d times, want once", r.conn, r.ended)
		}
	}
	// The first conns-limit were evicted, each when the limit-th after it
	// came: 2s*limit after it began.
	for _, r := range streams {
		port := int(r.conn.A.Port) - 20000
		if port >= conns-limit {
			continue
		}
		if want := t0.Add(time.Duration(port+limit) * 2 * time.Second); !r.endTS.Equal(want) {
			t.Errorf("%v ended at +%v, want +%v when evicted", r.conn, r.endTS.Sub(t0), want.Sub(t0))
		}
	}
	if n := f.conns.Load(); n != 0 {
		t.Errorf("%d connections still counted after the end", n)
	}
}

// TestShedUnderMemoryPressure runs stalled connections, far under the
// connection cap, with the Go memory limit below the live heap: each flush
// interval sheds the connections silent the longest, counted under
// memory_pressure, and their streams end then.
func TestShedUnderMemoryPressure(t *testing.T) {
	const conns = 200
	b := newPcap(t, layers.LinkTypeEthernet)
	server := addrPort("10.1.0.2:80")
	probe := addrPort("10.9.255.1:1")
	b.segment(t0, probe, server, 0, 0, "S", nil)
	for i := range conns {
		client := netip.AddrPortFrom(netip.MustParseAddr("10.3.0.1"), uint16(20000+i))
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		b.segment(ts, client, server, 0, 0, "S", nil)
		b.segment(ts, client, server, 1, 0, "PA", []byte("POST /orders HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"))
	}
	const seconds = 20
	for i := range seconds {
		b.segment(t0.Add(time.Duration(i)*time.Second), probe, server, uint32(1+i), 0, "PA", []byte("p"))
	}
	// The input ends half a flush interval after the last tick, so that
	// streams ended by a tick and those ended by the end of input differ.
	end := t0.Add(seconds*time.Second - time.Second/2)
	b.segment(end, probe, server, seconds+1, 0, "PA", []byte("p"))
	path := b.close()

	cfg := testConfig()
	cfg.Workers = 1
	rec := &recorders{}
	f := New(cfg, 1, rec)
	// Below the live heap: memory is short throughout. Set after New, so
	// that the connection cap stays flow.max_connections.
	prev := debug.SetMemoryLimit(-1)
	debug.SetMemoryLimit(int64(heapAlloc() / 2))
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	before := testutil.ToFloat64(metrics.ConnectionsShed.WithLabelValues(ShedMemoryPressure))
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	err = f.Run(t.Context(), src)
	debug.SetMemoryLimit(prev)
	if err != nil {
		t.Fatal(err)
	}

	shed := testutil.ToFloat64(metrics.ConnectionsShed.WithLabelValues(ShedMemoryPressure)) - before
	// An eighth of the connections each second, from the first second on
	// which they had been silent a flush interval: most are shed.
	if shed < conns/2 || shed > conns {
		t.Errorf("%v connections shed under memory pressure, want most of the %d stalled ones", shed, conns)
	}
	early := 0
	for _, r := range rec.streams() {
		if addrOf(r.conn.A) != probe && r.endTS.Before(end) {
			early++
		}
	}
	if float64(early) != shed {
		t.Errorf("%d stalled streams ended before the end of input, want the %v shed", early, shed)
	}
}
