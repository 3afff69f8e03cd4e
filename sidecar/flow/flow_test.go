package flow

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/metrics"
)

var t0 = time.Unix(1700000000, 0).UTC()

func testConfig() config.Flow {
	cfg := config.DefaultSidecar().Flow
	cfg.Workers = 2
	return cfg
}

func request(i int) []byte {
	return fmt.Appendf(nil, "GET /item/%d HTTP/1.1\r\nHost: example\r\n\r\n", i)
}

func response(i, size int) []byte {
	body := bytes.Repeat([]byte{byte('a' + i%26)}, size)
	return append(fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size), body...)
}

// only returns the single stream a replay made.
func only(t *testing.T, rec *recorders) *recorder {
	t.Helper()
	s := rec.streams()
	if len(s) != 1 {
		t.Fatalf("got %d streams, want 1", len(s))
	}
	return s[0]
}

func TestLinkTypes(t *testing.T) {
	v4c, v4s := addrPort("10.1.0.1:40000"), addrPort("10.1.0.2:8080")
	v6c, v6s := addrPort("[fd00::1]:40000"), addrPort("[fd00::2]:8080")
	for _, tc := range []struct {
		name           string
		link           layers.LinkType
		client, server netip.AddrPort
	}{
		{"ethernet", layers.LinkTypeEthernet, v4c, v4s},
		{"ethernet-ipv6", layers.LinkTypeEthernet, v6c, v6s},
		{"bsd-loopback", layers.LinkTypeNull, v4c, v4s},
		{"bsd-loopback-ipv6", layers.LinkTypeNull, v6c, v6s},
		{"linux-sll", layers.LinkTypeLinuxSLL, v4c, v4s},
		{"linux-sll2", layers.LinkTypeLinuxSLL2, v6c, v6s},
		{"raw", layers.LinkTypeRaw, v4c, v4s},
		{"raw-ipv6", layers.LinkTypeRaw, v6c, v6s},
		{"ipv4", layers.LinkTypeIPv4, v4c, v4s},
		{"ipv6", layers.LinkTypeIPv6, v6c, v6s},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newPcap(t, tc.link)
			reqs := [][]byte{request(1), request(2)}
			resps := [][]byte{response(1, 3000), response(2, 10)}
			b.exchange(t0, tc.client, tc.server, reqs, resps, 1400)
			rec := &recorders{keepBytes: true}
			replay(t, b.close(), testConfig(), rec)
			r := only(t, rec)
			if !r.conn.SawSYN || r.conn.A.IP != tc.client.Addr() || r.conn.A.Port != tc.client.Port() {
				t.Errorf("conn %+v, want A = client %v with SawSYN", r.conn, tc.client)
			}
			if got, want := r.dirs[AtoB].data, bytes.Join(reqs, nil); !bytes.Equal(got, want) {
				t.Errorf("client bytes %q, want %q", got, want)
			}
			if got, want := r.dirs[BtoA].data, bytes.Join(resps, nil); !bytes.Equal(got, want) {
				t.Errorf("server bytes differ: got %d bytes, want %d", len(got), len(want))
			}
			if r.ended != 1 || r.gapCount() != 0 {
				t.Errorf("ended %d times with %d gaps, want once with none", r.ended, r.gapCount())
			}
		})
	}
}

// TestReorderRetransmitGap sends one direction's segments out of order,
// twice over, partly overlapping, and with one segment never sent.
func TestReorderRetransmitGap(t *testing.T) {
	client, server := addrPort("10.1.0.1:40001"), addrPort("10.1.0.2:80")
	b := newPcap(t, layers.LinkTypeEthernet)
	ts := t0
	step := func() time.Time { ts = ts.Add(time.Millisecond); return ts }
	data := bytes.Repeat([]byte("0123456789"), 100) // 1000 bytes, seq 1..1000
	seg := func(from, to int) { b.segment(step(), client, server, uint32(1+from), 1, "PA", data[from:to]) }
	b.segment(step(), client, server, 0, 0, "S", nil)
	seg(0, 100)
	seg(200, 300) // ahead of 100-200
	seg(100, 200)
	seg(100, 200) // retransmission
	seg(50, 250)  // overlaps delivered bytes on both sides
	seg(300, 400)
	// 400-500 is never captured.
	seg(600, 700)
	seg(500, 600)
	seg(700, 1000)
	seg(650, 750)
	b.segment(step(), client, server, 1001, 1, "FA", nil)
	rec := &recorders{keepBytes: true}
	replay(t, b.close(), testConfig(), rec)
	r := only(t, rec)
	d := r.dirs[AtoB]
	want := append(append([]byte(nil), data[:400]...), data[500:]...)
	if !bytes.Equal(d.data, want) {
		t.Errorf("delivered %q\nwant %q", d.data, want)
	}
	if len(d.gaps) != 1 || d.gaps[0] != (recordedGap{at: 400, n: 100}) {
		t.Errorf("gaps %+v, want one of 100 bytes at 400", d.gaps)
	}
}

// TestMidstreamFirstPacketIsA checks Conn.A without a handshake: the source
// of the first packet, and the handshake's SYN sender when one is seen
// even after other packets (reordered).
func TestConnA(t *testing.T) {
	client, server := addrPort("10.1.0.1:40002"), addrPort("10.1.0.2:80")
	b := newPcap(t, layers.LinkTypeEthernet)
	// The SYN-ACK is captured before the SYN.
	b.segment(t0, server, client, 900, 101, "SA", nil)
	b.segment(t0.Add(time.Millisecond), client, server, 100, 0, "S", nil)
	b.segment(t0.Add(2*time.Millisecond), client, server, 101, 901, "PA", []byte("GET / HTTP/1.1\r\n\r\n"))
	b.segment(t0.Add(3*time.Millisecond), server, client, 901, 119, "PA", []byte("HTTP/1.1 204 No Content\r\n\r\n"))
	// A connection seen from its response on.
	mc, ms := addrPort("10.1.0.3:40003"), addrPort("10.1.0.2:80")
	b.segment(t0.Add(4*time.Millisecond), ms, mc, 5000, 7000, "PA", []byte("HTTP/1.1 200 OK\r\n\r\n"))
	b.segment(t0.Add(5*time.Millisecond), mc, ms, 7000, 5019, "PA", []byte("GET /next HTTP/1.1\r\n\r\n"))
	rec := &recorders{keepBytes: true}
	replay(t, b.close(), testConfig(), rec)
	for _, r := range rec.streams() {
		switch r.conn.B.Port {
		case 80:
			if !r.conn.SawSYN || r.conn.A.Port != client.Port() {
				t.Errorf("handshake connection: %+v, want A = SYN sender", r.conn)
			}
			if !bytes.HasPrefix(r.dirs[AtoB].data, []byte("GET / ")) {
				t.Errorf("AtoB = %q, want the request", r.dirs[AtoB].data)
			}
		default:
			if r.conn.SawSYN || r.conn.A.Port != 80 {
				t.Errorf("midstream connection: %+v, want A = first packet's source (the server)", r.conn)
			}
			if !bytes.HasPrefix(r.dirs[AtoB].data, []byte("HTTP/1.1 200")) || !bytes.HasPrefix(r.dirs[BtoA].data, []byte("GET /next")) {
				t.Errorf("midstream bytes: AtoB %q, BtoA %q", r.dirs[AtoB].data, r.dirs[BtoA].data)
			}
		}
	}
	if n := len(rec.streams()); n != 2 {
		t.Errorf("%d streams, want 2", n)
	}
}

// TestIgnoredStream checks that once a Stream is ignored it gets no Data,
// its out-of-order bytes are not buffered, and its FIN still ends it. The
// same capture with a stream that is never ignored shows the buffering the
// ignored one avoids.
func TestIgnoredStream(t *testing.T) {
	client, server := addrPort("10.1.0.1:40004"), addrPort("10.1.0.2:5432")
	b := newPcap(t, layers.LinkTypeEthernet)
	ts := t0
	step := func() time.Time { ts = ts.Add(5 * time.Millisecond); return ts }
	b.segment(step(), client, server, 0, 0, "S", nil)
	b.segment(step(), client, server, 1, 0, "PA", make([]byte, 200))
	// 1 MB behind a hole, over 3.5 s: buffered unless ignored.
	chunk := make([]byte, 1400)
	const segments = 700
	for i := range segments {
		b.segment(step(), client, server, uint32(1+200+1400+i*1400), 0, "PA", chunk)
	}
	b.segment(step(), client, server, uint32(1+200+1400+segments*1400), 0, "FA", nil)
	b.segment(step(), server, client, 77, uint32(2+200+1400+segments*1400), "FA", nil)
	finTS := ts
	b.segment(t0.Add(time.Minute), addrPort("10.1.0.9:1"), addrPort("10.1.0.9:2"), 0, 0, "S", nil)
	path := b.close()

	for _, tc := range []struct {
		name        string
		ignoreAfter int
	}{{"ignored", 100}, {"not ignored", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorders{ignoreAfter: tc.ignoreAfter}
			before := testutil.ToFloat64(metrics.ReassemblyBytes)
			var maxBuffered float64
			rec.onNew = func(r *recorder) {
				r.onTick = func(time.Time) {
					maxBuffered = max(maxBuffered, testutil.ToFloat64(metrics.ReassemblyBytes)-before)
				}
			}
			cfg := testConfig()
			cfg.Workers = 1
			replay(t, path, cfg, rec)
			r := only(t, rec)
			if tc.ignoreAfter == 0 {
				if maxBuffered == 0 {
					t.Fatal("no buffering seen without ignoring: the measurement is broken")
				}
				return
			}
			if r.dirs[AtoB].bytes != 200 || r.gapCount() != 0 {
				t.Errorf("got %d bytes and %d gaps after ignoring, want only the 200 before", r.dirs[AtoB].bytes, r.gapCount())
			}
			if !r.endTS.Equal(finTS) {
				t.Errorf("ended at %v, want at the FIN (%v)", r.endTS, finTS)
			}
			if maxBuffered > 0 {
				t.Errorf("reassembly buffered %v bytes for an ignored stream", maxBuffered)
			}
		})
	}
}

func TestRSTEndsStream(t *testing.T) {
	client, server := addrPort("10.1.0.1:40005"), addrPort("10.1.0.2:80")
	b := newPcap(t, layers.LinkTypeEthernet)
	b.segment(t0, client, server, 0, 0, "S", nil)
	b.segment(t0.Add(time.Millisecond), client, server, 1, 0, "PA", []byte("GET / HTTP/1.1\r\n\r\n"))
	rst := t0.Add(2 * time.Millisecond)
	b.segment(rst, client, server, 19, 0, "R", nil)
	b.segment(t0.Add(time.Minute), addrPort("10.1.0.9:1"), addrPort("10.1.0.9:2"), 0, 0, "S", nil)
	rec := &recorders{}
	replay(t, b.close(), testConfig(), rec)
	for _, r := range rec.streams() {
		if r.conn.B.Port == 80 && !r.endTS.Equal(rst) {
			t.Errorf("ended at %v, want at the RST (%v)", r.endTS, rst)
		}
	}
}

// TestRSTAfterFINEndsStream: a client that closed with FIN and is then
// sent more data answers with a RST from its closed side (at the FIN's
// sequence number plus one). The kernel drops the connection at once, so
// the stream must end at that RST, not at the idle timeout while the
// server's side is still open.
func TestRSTAfterFINEndsStream(t *testing.T) {
	client, server := addrPort("10.1.0.1:40008"), addrPort("10.1.0.2:80")
	req := []byte("GET / HTTP/1.1\r\n\r\n")
	b := newPcap(t, layers.LinkTypeEthernet)
	b.segment(t0, client, server, 0, 0, "S", nil)
	b.segment(t0, server, client, 0, 1, "SA", nil)
	b.segment(t0.Add(time.Millisecond), client, server, 1, 1, "PA", req)
	fin := uint32(1 + len(req))
	b.segment(t0.Add(2*time.Millisecond), client, server, fin, 1, "FA", nil)
	b.segment(t0.Add(3*time.Millisecond), server, client, 1, fin+1, "PA", []byte("HTTP/1.1 200 OK\r\n"))
	rst := t0.Add(4 * time.Millisecond)
	b.segment(rst, client, server, fin+1, 0, "R", nil)
	b.segment(t0.Add(time.Minute), addrPort("10.1.0.9:1"), addrPort("10.1.0.9:2"), 0, 0, "S", nil)
	cfg := testConfig()
	cfg.IdleTimeout = 10 * time.Second
	rec := &recorders{}
	replay(t, b.close(), cfg, rec)
	found := false
	for _, r := range rec.streams() {
		if r.conn.B.Port != 80 {
			continue
		}
		found = true
		if !r.endTS.Equal(rst) {
			t.Errorf("ended at %v, want at the RST after the FIN (%v)", r.endTS, rst)
		}
	}
	if !found {
		t.Fatal("no stream for the connection")
	}
}

// TestTicksAndIdle checks that open streams tick every flush interval of
// packet time, and that an idle connection is closed after the idle
// timeout while a busy one stays open.
func TestTicksAndIdle(t *testing.T) {
	busyC, busyS := addrPort("10.1.0.1:40006"), addrPort("10.1.0.2:80")
	idleC, idleS := addrPort("10.1.0.1:40007"), addrPort("10.1.0.2:80")
	b := newPcap(t, layers.LinkTypeEthernet)
	b.segment(t0, idleC, idleS, 0, 0, "S", nil)
	b.segment(t0, idleC, idleS, 1, 0, "PA", []byte("GET / HTTP/1.1\r\n"))
	b.segment(t0, busyC, busyS, 0, 0, "S", nil)
	for i := range 30 {
		b.segment(t0.Add(time.Duration(i)*time.Second), busyC, busyS, uint32(1+i), 0, "PA", []byte("x"))
	}
	cfg := testConfig()
	cfg.IdleTimeout = 10 * time.Second
	cfg.FlushInterval = time.Second
	rec := &recorders{}
	replay(t, b.close(), cfg, rec)
	for _, r := range rec.streams() {
		switch r.conn.A.Port {
		case idleC.Port():
			if r.endTS.Before(t0.Add(cfg.IdleTimeout)) || r.endTS.After(t0.Add(cfg.IdleTimeout+2*cfg.FlushInterval)) {
				t.Errorf("idle connection ended at +%v, want within two flush intervals after the %v idle timeout",
					r.endTS.Sub(t0), cfg.IdleTimeout)
			}
			if r.ticks < 9 || r.ticks > 12 {
				t.Errorf("idle connection ticked %d times in ~11s, want one per second", r.ticks)
			}
		case busyC.Port():
			if !r.endTS.Equal(t0.Add(29 * time.Second)) {
				t.Errorf("busy connection ended at +%v, want at the end of input (+29s)", r.endTS.Sub(t0))
			}
			if r.ticks < 27 || r.ticks > 29 {
				t.Errorf("busy connection ticked %d times in 29s, want one per second", r.ticks)
			}
		}
	}
}

func TestSampling(t *testing.T) {
	b := newPcap(t, layers.LinkTypeEthernet)
	const conns = 2000
	ts := t0
	for i := range conns {
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), uint16(30000+i))
		ts = b.exchange(ts, client, addrPort("10.1.0.2:80"), [][]byte{request(i)}, [][]byte{response(i, 100)}, 1400)
	}
	rec := &recorders{keepBytes: true}
	sampledBefore := testutil.ToFloat64(metrics.ConnectionsTotal.WithLabelValues(IgnoredSampledOut))
	src, err := capture.OpenFile(b.close())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := New(testConfig(), 0.25, rec).Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	streams := rec.streams()
	if n := len(streams); n < conns/4-150 || n > conns/4+150 {
		t.Errorf("kept %d of %d connections at rate 0.25", n, conns)
	}
	for _, r := range streams {
		if !bytes.HasPrefix(r.dirs[AtoB].data, []byte("GET /item/")) || !bytes.HasPrefix(r.dirs[BtoA].data, []byte("HTTP/1.1 200")) {
			t.Fatalf("%v: a sampled connection is not whole", r.conn)
		}
	}
	out := testutil.ToFloat64(metrics.ConnectionsTotal.WithLabelValues(IgnoredSampledOut)) - sampledBefore
	if int(out)+len(streams) < conns {
		t.Errorf("%v connections counted as sampled out, %d kept, of %d", out, len(streams), conns)
	}
}

func TestMaxConnections(t *testing.T) {
	b := newPcap(t, layers.LinkTypeEthernet)
	const conns = 50
	server := addrPort("10.1.0.2:80")
	for i := range conns {
		client := netip.AddrPortFrom(netip.MustParseAddr("10.3.0.1"), uint16(20000+i))
		b.segment(t0.Add(time.Duration(i)*time.Millisecond), client, server, 0, 0, "S", nil)
		b.segment(t0.Add(time.Duration(i)*time.Millisecond), client, server, 1, 0, "PA", request(i))
	}
	cfg := testConfig()
	cfg.MaxConnections = 10
	overBefore := testutil.ToFloat64(metrics.ConnectionsTotal.WithLabelValues(IgnoredOverLimit))
	rec := &recorders{}
	f := replay(t, b.close(), cfg, rec)
	// Workers end their connections at the end of input one after the
	// other, so a late worker may admit connections an early one freed:
	// the limit holds at every moment, not over the whole input.
	if rec.maxOpen != 10 {
		t.Errorf("%d streams open at once, want the limit of 10", rec.maxOpen)
	}
	over := testutil.ToFloat64(metrics.ConnectionsTotal.WithLabelValues(IgnoredOverLimit)) - overBefore
	if int(over)+len(rec.streams()) < conns {
		t.Errorf("%v connections counted over the limit and %d tracked, of %d", over, len(rec.streams()), conns)
	}
	if n := f.conns.Load(); n != 0 {
		t.Errorf("%d connections still counted after the end", n)
	}
}

func TestGarbage(t *testing.T) {
	for _, link := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeNull, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw} {
		t.Run(link.String(), func(t *testing.T) {
			b := newPcap(t, link)
			rng := newRand(int64(link))
			client, server := addrPort("10.1.0.1:40008"), addrPort("10.1.0.2:80")
			valid := b.frame(client, server, 1, 1, "PA", []byte("GET / HTTP/1.1\r\n\r\n"))
			garbage := 0
			for i := range 3000 {
				var p []byte
				switch i % 3 {
				case 0: // random bytes
					p = make([]byte, rng.Intn(120))
					rng.Read(p)
				case 1: // a valid packet with random bytes flipped
					p = append([]byte(nil), valid...)
					for range 1 + rng.Intn(4) {
						p[rng.Intn(len(p))] = byte(rng.Intn(256))
					}
				case 2: // a valid packet cut short
					p = valid[:rng.Intn(len(valid))]
				}
				b.raw(t0.Add(time.Duration(i)*time.Millisecond), p)
				garbage++
			}
			good := addrPort("10.1.0.5:40009")
			b.exchange(t0.Add(10*time.Second), good, server, [][]byte{request(7)}, [][]byte{response(7, 5000)}, 1400)
			ignoredBefore := ignoredTotal()
			packetsBefore := testutil.ToFloat64(metrics.Packets)
			rec := &recorders{keepBytes: true}
			replay(t, b.close(), testConfig(), rec)
			if got := testutil.ToFloat64(metrics.Packets) - packetsBefore; int(got) != b.packets {
				t.Errorf("counted %v packets, wrote %d", got, b.packets)
			}
			if ignoredTotal()-ignoredBefore < float64(garbage)/3 {
				t.Errorf("only %v of %d garbage packets counted as ignored", ignoredTotal()-ignoredBefore, garbage)
			}
			for _, r := range rec.streams() {
				if r.conn.A.Port == good.Port() {
					if !bytes.Equal(r.dirs[BtoA].data, response(7, 5000)) {
						t.Errorf("the valid connection after the garbage was not reassembled")
					}
					return
				}
			}
			t.Error("no stream for the valid connection after the garbage")
		})
	}
}

func newRand(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed)) }

func ignoredTotal() float64 {
	var sum float64
	for _, r := range ignoredReasons[notTCP:] {
		sum += testutil.ToFloat64(metrics.PacketsIgnored.WithLabelValues(r))
	}
	return sum
}

func TestDecodeIgnores(t *testing.T) {
	d, err := newDecoder(layers.LinkTypeEthernet, Tunnel{})
	if err != nil {
		t.Fatal(err)
	}
	b := newPcap(t, layers.LinkTypeEthernet)
	valid := b.frame(addrPort("10.1.0.1:1"), addrPort("10.1.0.2:2"), 1, 1, "PA", []byte("x"))
	frag4 := append([]byte(nil), valid...)
	frag4[14+6] |= 0x20 // IPv4 more fragments
	udp := append([]byte(nil), valid...)
	udp[14+9] = 17
	arp := append([]byte(nil), valid...)
	arp[12], arp[13] = 0x08, 0x06
	v6 := b.frame(addrPort("[fd00::1]:1"), addrPort("[fd00::2]:2"), 1, 1, "PA", []byte("x"))
	v6frag := append([]byte(nil), v6...)
	v6frag[14+6] = 44
	for _, tc := range []struct {
		name string
		pkt  []byte
		want ignored
	}{
		{"valid", valid, kept},
		{"valid-ipv6", v6, kept},
		{"ipv4-fragment", frag4, fragment},
		{"ipv6-fragment", v6frag, fragment},
		{"udp", udp, notTCP},
		{"arp", arp, notTCP},
		{"short-ethernet", valid[:10], malformed},
		{"short-ip", valid[:20], malformed},
		{"short-tcp", valid[:14+20+10], malformed},
	} {
		if _, got := d.decode(tc.pkt); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
