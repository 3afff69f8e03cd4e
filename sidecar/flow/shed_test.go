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
	want := (256<<20/10*9/connShareDen*connShareNum - int(cfg.MaxBufferBytes)) / connFootprint
	if n != want || reason != ShedMemory {
		t.Errorf("cap %d (%s) under 230 MiB, want %d (%s)", n, reason, want, ShedMemory)
	}
	if n*3456 > 256<<20/2 {
		t.Errorf("cap %d: as many stalled connections would take more than half of 256 MiB", n)
	}
	cfg.MaxConnections = 1000
	if n, reason := connectionCap(cfg); n != 1000 || reason != ShedLimit {
		t.Errorf("cap %d (%s) with flow.max_connections 1000, want 1000 (%s)", n, reason, ShedLimit)
	}
	debug.SetMemoryLimit(1 << 20)
	if n, _ := connectionCap(cfg); n != 1 {
		t.Errorf("cap %d under a limit smaller than the buffer cap, want 1", n)
	}
	debug.SetMemoryLimit(prev)
	cfg.MaxConnections = 100000
	if prev == 1<<63-1 {
		if n, reason := connectionCap(cfg); n != 100000 || reason != ShedLimit {
			t.Errorf("cap %d (%s) without a memory limit, want flow.max_connections", n, reason)
		}
	}
}

// TestShedLogged refuses connections past the cap for a while, then none:
// each refused one is counted once under its reason, a WARN says shedding
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
	shedBefore := testutil.ToFloat64(metrics.ConnectionsShed.WithLabelValues(ShedLimit))
	replay(t, b.close(), cfg, &recorders{})

	shed := testutil.ToFloat64(metrics.ConnectionsShed.WithLabelValues(ShedLimit)) - shedBefore
	if shed != conns+1-limit {
		t.Errorf("%v connections counted as shed, want %d", shed, conns+1-limit)
	}
	out := logs.String()
	warn := strings.Index(out, "level=WARN msg=\"connection cap reached")
	info := strings.Index(out, "level=INFO msg=\"connection cap no longer reached")
	if warn < 0 || info < warn {
		t.Fatalf("want a WARN when shedding starts and an INFO after it, got:\n%s", out)
	}
	if !strings.Contains(out[info:], "shed=51") || strings.Count(out, "level=WARN") != 1 {
		t.Errorf("want one WARN and an INFO counting 51 shed, got:\n%s", out)
	}
}
