package flow

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podtap/podtap/sidecar/metrics"
)

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

// timeline describes what a direction got, offset by offset in sequence
// space: runs of bytes with the capture time they were stamped with (in ms
// after t0), and gaps, e.g. "0-100@1 gap:100-150 150-200@3".
func timeline(d *recordedDir) string {
	var parts []string
	pos, g := 0, 0
	for _, c := range d.chunks {
		for ; g < len(d.gaps) && d.gaps[g].at <= c.at; g++ {
			parts = append(parts, fmt.Sprintf("gap:%d-%d", pos, pos+d.gaps[g].n))
			pos += d.gaps[g].n
		}
		at := c.ts.Sub(t0).Milliseconds()
		if n := len(parts); n > 0 && strings.HasSuffix(parts[n-1], fmt.Sprintf("-%d@%d", pos, at)) {
			// One capture time delivered in two calls is one run.
			parts[n-1] = strings.TrimSuffix(parts[n-1], fmt.Sprintf("%d@%d", pos, at)) + fmt.Sprintf("%d@%d", pos+c.n, at)
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d@%d", pos, pos+c.n, at))
		}
		pos += c.n
	}
	for ; g < len(d.gaps); g++ {
		parts = append(parts, fmt.Sprintf("gap:%d-%d", pos, pos+d.gaps[g].n))
		pos += d.gaps[g].n
	}
	return strings.Join(parts, " ")
}

// TestBufferedDataKeepsCaptureTime checks that bytes reassembly held back,
// out of order behind a hole or until a flush skipped the hole, reach the
// Stream stamped with when they were captured, not with when they became
// deliverable; bytes captured twice keep their first capture time.
func TestBufferedDataKeepsCaptureTime(t *testing.T) {
	client, server := addrPort("10.1.0.1:40010"), addrPort("10.1.0.2:80")
	probeC, probeS := addrPort("10.1.0.3:40011"), addrPort("10.1.0.2:80")
	b := newPcap(t, layers.LinkTypeEthernet)
	data := bytes.Repeat([]byte("abcdefghij"), 60) // seq 1..600
	seg := func(at, from, to int) { b.segment(ms(at), client, server, uint32(1+from), 1, "PA", data[from:to]) }
	b.segment(ms(0), client, server, 0, 0, "S", nil)
	b.segment(ms(0), probeC, probeS, 0, 0, "S", nil)
	seg(1, 0, 100)
	seg(2, 200, 300) // ahead of a hole
	seg(3, 250, 350) // partly captured before: 250-300 keeps 2 ms
	seg(4, 100, 200) // fills the hole
	// 350-400 is never captured; nothing acknowledges past it.
	seg(5, 400, 500)
	seg(6, 450, 600)
	// Packet time moves on, on another connection, past the flush interval.
	for i := 1; i <= 10; i++ {
		b.segment(ms(50*i), probeC, probeS, uint32(i), 0, "PA", []byte("p"))
	}
	cfg := testConfig()
	cfg.Workers = 1
	cfg.FlushInterval = 100 * time.Millisecond
	rec := &recorders{keepBytes: true}
	replay(t, b.close(), cfg, rec)
	for _, r := range rec.streams() {
		if r.conn.A.Port != client.Port() {
			continue
		}
		want := "0-100@1 100-200@4 200-300@2 300-350@3 gap:350-400 400-500@5 500-600@6"
		if got := timeline(&r.dirs[AtoB]); got != want {
			t.Errorf("delivered %s\nwant      %s", got, want)
		}
		if r.endTS.Before(ms(500)) {
			t.Errorf("ended at +%v: the flush, not the end of input, must deliver past the hole", r.endTS.Sub(t0))
		}
		return
	}
	t.Fatal("no stream for the connection")
}

// keepAlive writes a keep-alive connection on which the server's first
// response is never captured. ackFirst says whether the client's ACK of
// that response (it got it) comes before the next response or only after
// it. It returns the request and response sizes.
func keepAlive(b *pcapBuilder, ackFirst bool) (req, resp int) {
	client, server := addrPort("10.1.0.1:40012"), addrPort("10.1.0.2:80")
	cseq, sseq := b.open(ms(0), client, server)
	rq, rs := request(0), response(0, 200)
	b.segment(ms(1), client, server, cseq, sseq, "PA", rq)
	cseq += uint32(len(rq))
	// The first response is lost from the capture but reaches the client.
	acked := sseq
	sseq += uint32(len(rs))
	if ackFirst {
		acked = sseq
		b.segment(ms(2), client, server, cseq, acked, "A", nil)
	}
	for i := 1; i <= 3; i++ {
		rq := request(i)
		b.segment(ms(10*i), client, server, cseq, acked, "PA", rq)
		cseq += uint32(len(rq))
		b.segment(ms(10*i+1), server, client, sseq, cseq, "PA", rs)
		sseq += uint32(len(rs))
		acked = sseq
		b.segment(ms(10*i+2), client, server, cseq, acked, "A", nil)
	}
	return len(rq), len(rs)
}

// TestAckedHoleSkippedAtOnce checks that a hole the peer acknowledged past
// is skipped as soon as the ACK is seen, whether it comes before or after
// the data behind the hole: each response is delivered before the next
// request, not after every request at the end of input.
func TestAckedHoleSkippedAtOnce(t *testing.T) {
	for _, ackFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("ack-first=%v", ackFirst), func(t *testing.T) {
			b := newPcap(t, layers.LinkTypeEthernet)
			req, resp := keepAlive(b, ackFirst)
			rec := &recorders{keepBytes: true, logEvents: true}
			lost := testutil.ToFloat64(metrics.GapBytes.WithLabelValues(GapLost))
			replay(t, b.close(), testConfig(), rec)
			r := only(t, rec)
			var order []string
			for _, e := range rec.events {
				switch {
				case e.gap:
					order = append(order, fmt.Sprintf("gap %d", e.n))
				case e.dir == AtoB:
					order = append(order, fmt.Sprintf("req@%d", e.ts.Sub(t0).Milliseconds()))
				default:
					order = append(order, fmt.Sprintf("resp@%d", e.ts.Sub(t0).Milliseconds()))
				}
			}
			want := fmt.Sprintf("req@1 req@10 gap %d resp@11 req@20 resp@21 req@30 resp@31", resp)
			if got := strings.Join(order, " "); got != want {
				t.Errorf("delivered %s\nwant      %s", got, want)
			}
			if got := timeline(&r.dirs[BtoA]); got != fmt.Sprintf("gap:0-%d %d-%d@11 %d-%d@21 %d-%d@31", resp, resp, 2*resp, 2*resp, 3*resp, 3*resp, 4*resp) {
				t.Errorf("server bytes %s", got)
			}
			if r.dirs[AtoB].bytes != 4*req {
				t.Errorf("client bytes %d, want %d", r.dirs[AtoB].bytes, 4*req)
			}
			if got := testutil.ToFloat64(metrics.GapBytes.WithLabelValues(GapLost)) - lost; got != float64(resp) {
				t.Errorf("%v gap bytes counted lost, want %d", got, resp)
			}
		})
	}
}

// TestHoleNotAckedWaits checks the other side: a hole the peer has not
// acknowledged past may still be filled, by a retransmission or by packets
// the capture reordered, so nothing behind it is skipped. Here the client
// acknowledges only the first half of a response the capture misses,
// then the second half comes: only the first half is a gap.
func TestHoleNotAckedWaits(t *testing.T) {
	client, server := addrPort("10.1.0.1:40013"), addrPort("10.1.0.2:80")
	b := newPcap(t, layers.LinkTypeEthernet)
	cseq, sseq := b.open(ms(0), client, server)
	rq, rs := request(0), response(0, 400)
	b.segment(ms(1), client, server, cseq, sseq, "PA", rq)
	cseq += uint32(len(rq))
	half := len(rs) / 2
	// The first half is lost from the capture; the client got it.
	b.segment(ms(2), client, server, cseq, sseq+uint32(half), "A", nil)
	// The next response, ahead of the second half: not acknowledged.
	next := response(1, 50)
	b.segment(ms(3), server, client, sseq+uint32(len(rs)), cseq, "PA", next)
	b.segment(ms(4), client, server, cseq, sseq+uint32(half), "A", nil)
	// The second half comes late (a retransmission).
	b.segment(ms(5), server, client, sseq+uint32(half), cseq, "PA", rs[half:])
	b.segment(ms(6), client, server, cseq, sseq+uint32(len(rs)+len(next)), "A", nil)
	rec := &recorders{keepBytes: true}
	replay(t, b.close(), testConfig(), rec)
	r := only(t, rec)
	want := fmt.Sprintf("gap:0-%d %d-%d@5 %d-%d@3", half, half, len(rs), len(rs), len(rs)+len(next))
	if got := timeline(&r.dirs[BtoA]); got != want {
		t.Errorf("server bytes %s\nwant         %s", got, want)
	}
}

// TestStalledHoleFlushedAfterInterval checks the time bound on a hole
// nothing acknowledges past: the bytes behind it wait at most about two
// flush intervals of packet time, then come with the gap and their own
// capture time, counted as lost.
func TestStalledHoleFlushedAfterInterval(t *testing.T) {
	client, server := addrPort("10.1.0.1:40014"), addrPort("10.1.0.2:80")
	b := newPcap(t, layers.LinkTypeEthernet)
	cseq, sseq := b.open(ms(0), client, server)
	b.segment(ms(1), server, client, sseq, cseq, "PA", make([]byte, 100))
	// 100 bytes never captured, never acknowledged, then 100 more.
	b.segment(ms(2), server, client, sseq+200, cseq, "PA", make([]byte, 100))
	// The client keeps talking, acknowledging only up to the hole.
	for i := 1; i <= 30; i++ {
		b.segment(ms(100*i), client, server, cseq, sseq+100, "PA", []byte{byte(i)})
		cseq++
	}
	cfg := testConfig()
	cfg.FlushInterval = time.Second
	rec := &recorders{keepBytes: true, logEvents: true}
	lost := testutil.ToFloat64(metrics.GapBytes.WithLabelValues(GapLost))
	replay(t, b.close(), cfg, rec)
	r := only(t, rec)
	if got, want := timeline(&r.dirs[BtoA]), "0-100@1 gap:100-200 200-300@2"; got != want {
		t.Errorf("server bytes %s, want %s", got, want)
	}
	// The client bytes delivered just before and after the skip bound it.
	var before, after time.Time
	skipped := false
	for _, e := range rec.events {
		switch {
		case e.gap:
			skipped = true
		case e.dir == BtoA:
		case !skipped:
			before = e.ts
		case after.IsZero():
			after = e.ts
		}
	}
	if before.Before(ms(2).Add(cfg.FlushInterval - 100*time.Millisecond)) {
		t.Errorf("the hole was skipped after client bytes of +%v: too early", before.Sub(t0))
	}
	if after.IsZero() || after.After(ms(2).Add(2*cfg.FlushInterval+100*time.Millisecond)) {
		t.Errorf("the hole was skipped before client bytes of +%v: too late", after.Sub(t0))
	}
	if got := testutil.ToFloat64(metrics.GapBytes.WithLabelValues(GapLost)) - lost; got != 100 {
		t.Errorf("%v gap bytes counted lost, want 100", got)
	}
}

// TestCorpusAckedHoleInCaptureOrder replays the real capture whose first
// response is missing: once the client acknowledges past it, nothing is
// held back, so both directions are delivered in capture order, each byte
// stamped with its capture time.
func TestCorpusAckedHoleInCaptureOrder(t *testing.T) {
	path := filepath.Join(corpusDir, "http1-keepalive/1000-requests-one-dropped-response.pcap")
	rec := &recorders{keepBytes: true, logEvents: true}
	replay(t, path, testConfig(), rec)
	only(t, rec)
	images, _ := capturedImages(t, path)
	checkCaptureTimes(t, images, recordedDirs(rec))
	gaps := 0
	for i, e := range rec.events {
		if e.gap {
			gaps++
		}
		if i > 0 && e.ts.Before(rec.events[i-1].ts) {
			t.Fatalf("event %d (%+v) captured at %v, delivered after one captured at %v",
				i, e.dir, e.ts, rec.events[i-1].ts)
		}
	}
	if gaps != 1 {
		t.Errorf("%d gaps, want the one missing response", gaps)
	}
}
