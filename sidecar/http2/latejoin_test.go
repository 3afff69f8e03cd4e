package http2

import (
	"fmt"
	"slices"
	"testing"

	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

// callTruth is what was sent on one stream.
type callTruth struct {
	path    string
	reqHdr  map[string]string
	status  int
	respHdr map[string]string
	reqMsg  string
	respMsg string
	// first is the index of the stream's first segment.
	first int
}

// busyConn writes n gRPC calls over one connection, some concurrent, as a
// gRPC client does: the same few paths again and again (so a warm table
// serves them by index), a unique request id and deadline per call (so the
// table keeps turning over).
func busyConn(t testing.TB, n int) (*wire, map[uint32]*callTruth) {
	w := newWire(t)
	truth := map[uint32]*callTruth{}
	paths := []string{"/shop.Cart/Add", "/shop.Cart/Get", "/shop.Catalog/List", "/shop.Cart/Remove"}
	var open []uint32
	finish := func(id uint32) {
		ct := truth[id]
		w.headers(false, id, false, ":status", "200", "content-type", "application/grpc", "x-served-by", "pod-a")
		w.data(false, id, false, grpcFrame(t, []byte(ct.respMsg), false))
		code := fmt.Sprint(int(id/2) % 3)
		w.headers(false, id, true, "grpc-status", code, "grpc-message", "m"+code)
		ct.respHdr["grpc-status"] = code
	}
	for i := range n {
		id := uint32(2*i + 1)
		ct := &callTruth{
			path:    paths[i%len(paths)],
			reqHdr:  map[string]string{"content-type": "application/grpc", "x-request-id": fmt.Sprintf("req-%06d", i), "grpc-timeout": fmt.Sprintf("%dm", 1000+i*7%500)},
			status:  200,
			respHdr: map[string]string{"content-type": "application/grpc", "x-served-by": "pod-a"},
			reqMsg:  fmt.Sprintf("request %d", i),
			respMsg: fmt.Sprintf("response %d", i),
			first:   len(w.segs),
		}
		truth[id] = ct
		w.headers(true, id, false, ":method", "POST", ":scheme", "http", ":path", ct.path, ":authority", "shop:50051",
			"content-type", "application/grpc", "te", "trailers", "x-request-id", ct.reqHdr["x-request-id"], "grpc-timeout", ct.reqHdr["grpc-timeout"])
		w.data(true, id, true, grpcFrame(t, []byte(ct.reqMsg), false))
		open = append(open, id)
		if i%3 != 0 {
			for _, o := range open {
				finish(o)
			}
			open = open[:0]
		}
	}
	for _, o := range open {
		finish(o)
	}
	return w, truth
}

// checkKnown asserts that what a late-joined parse resolved is what was
// sent: a header may be unknown (then flagged), never wrong. It reports
// whether the request's path was resolved.
func checkKnown(t *testing.T, p pairT, ct *callTruth) (resolved bool) {
	t.Helper()
	q, r := p.req, p.resp
	flagged := slices.Contains(q.Flags, message.FlagHPACKUnknown)
	if q.Path != "" && q.Path != ct.path {
		t.Errorf("stream %d: path %q, sent %q", q.StreamID, q.Path, ct.path)
	}
	if q.Path == "" && !flagged {
		t.Errorf("stream %d: path missing without the unknown flag", q.StreamID)
	}
	if q.Method != "POST" {
		t.Errorf("stream %d: method %q", q.StreamID, q.Method)
	}
	for _, h := range q.Headers {
		if h.Name == UnknownHeader {
			if !flagged {
				t.Errorf("stream %d: unknown header without the flag", q.StreamID)
			}
			continue
		}
		if want, ok := ct.reqHdr[h.Name]; ok && h.Value != want {
			t.Errorf("stream %d: request %s=%q, sent %q", q.StreamID, h.Name, h.Value, want)
		}
	}
	if r.Status != ct.status {
		t.Errorf("stream %d: status %d", q.StreamID, r.Status)
	}
	for _, hs := range []message.Headers{r.Headers, r.Trailers} {
		for _, h := range hs {
			if want, ok := ct.respHdr[h.Name]; ok && h.Value != want {
				t.Errorf("stream %d: response %s=%q, sent %q", q.StreamID, h.Name, h.Value, want)
			}
		}
	}
	if len(q.Messages) != 1 || string(q.Messages[0]) != ct.reqMsg {
		t.Errorf("stream %d: request messages %q (proto %s), sent %q", q.StreamID, q.Messages, q.Proto, ct.reqMsg)
	}
	if len(r.Messages) != 1 || string(r.Messages[0]) != ct.respMsg {
		t.Errorf("stream %d: response messages %q, sent %q", q.StreamID, r.Messages, ct.respMsg)
	}
	// Only the path must resolve once the table turned over. A server
	// repeats its response headers exactly, so their entries may stay in
	// its table, unknown, for the connection's life; and a name first
	// inserted before the join is copied from entry to entry by reference
	// (x-request-id, grpc-timeout), so it stays unknown while its values
	// are known.
	return q.Path != ""
}

// TestLateJoin starts the parse at many points of a busy connection, some
// on a frame boundary and some inside a frame. Every stream that starts
// after the join must come out as a pair whose resolved fields are right,
// and once the table has turned over, fully resolved.
func TestLateJoin(t *testing.T) {
	w, truth := busyConn(t, 400)
	for _, start := range []int{40, 41, 42, 43, 300, 777, 1201} {
		for _, cut := range []int{0, 1, 5, 9, 13} {
			t.Run(fmt.Sprintf("seg%d+%d", start, cut), func(t *testing.T) {
				rec := newRecorder(t)
				c := NewParser(Options{}, rec)
				segs := append([]segment{{client: w.segs[start].client, b: w.segs[start].b[min(cut, len(w.segs[start].b)):]}}, w.segs[start+1:]...)
				feed(c, segs, t0)
				c.Close(t0)

				kept, resolved, late := 0, 0, 0
				before := func(ct *callTruth) bool { return ct.first < start || (ct.first == start && cut > 0) }
				for id, ct := range truth {
					if before(ct) {
						continue
					}
					p := rec.byID(id)
					if p.req.Drop != "" || p.resp.Drop != "" {
						t.Errorf("stream %d started after the join, dropped: %q %q", id, p.req.Drop, p.resp.Drop)
						continue
					}
					kept++
					if checkKnown(t, p, ct) {
						resolved++
					} else if ct.first > start+600 {
						late++
					}
				}
				if late > 0 {
					t.Errorf("%d streams still unresolved long after the join", late)
				}
				for _, p := range rec.pairs {
					if ct := truth[p.req.StreamID]; before(ct) && p.req.Drop == "" {
						t.Errorf("stream %d began before the join yet was kept", p.req.StreamID)
					}
				}
				t.Logf("%d streams after the join, %d with their path resolved", kept, resolved)
			})
		}
	}
}

// TestGapResync loses bytes in each direction, across frames and into
// the middle of a frame, with the size known and unknown: the streams cut
// are dropped as gap, the others come out right, and the connection
// recovers.
func TestGapResync(t *testing.T) {
	w, truth := busyConn(t, 300)
	cases := []struct {
		name string
		// from and to count the segments of the losing side: segments
		// [from, to) are lost, and skip more bytes of segment to.
		from, to, skip int
		client         bool
		unknownN       bool
	}{
		{name: "client frames", from: 100, to: 112, client: true},
		{name: "server frames", from: 100, to: 112, client: false},
		{name: "client unknown size", from: 200, to: 203, client: true, unknownN: true},
		{name: "server into a header", from: 300, to: 302, skip: 4, client: false},
		{name: "client into a payload", from: 350, to: 351, skip: 12, client: true},
		{name: "server into a payload unknown", from: 380, to: 383, skip: 11, client: false, unknownN: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t)
			c := NewParser(Options{}, rec)
			k, lost := 0, 0
			for i, s := range w.segs {
				b := s.b
				if s.client == tc.client {
					switch {
					case k >= tc.from && k < tc.to:
						lost += len(b)
						b = nil
					case k == tc.to:
						n := min(tc.skip, len(b))
						lost += n
						b = b[n:]
						if tc.unknownN {
							lost = -1
						}
						c.Gap(s.client, lost, t0.Add(timeStep(i)))
					}
					k++
				}
				if len(b) > 0 {
					c.Feed(s.client, b, t0.Add(timeStep(i)))
				}
			}
			c.Close(t0)
			if lost == 0 {
				t.Fatal("test lost nothing")
			}
			var kept, dropped int
			for id, ct := range truth {
				p := rec.byID(id)
				if p.req.Drop != "" || p.resp.Drop != "" {
					dropped++
					continue
				}
				kept++
				checkKnown(t, p, ct)
			}
			if dropped == 0 || kept < len(truth)-30 {
				t.Errorf("kept %d, dropped %d of %d", kept, dropped, len(truth))
			}
			t.Logf("kept %d, dropped %d", kept, dropped)
		})
	}
}

// TestGapInsideData loses bytes inside one large DATA frame: only that
// stream's half is cut, and the frame's end stays a known boundary, so the
// HPACK table is untouched.
func TestGapInsideData(t *testing.T) {
	w := newWire(t)
	w.headers(true, 1, false, reqFields("POST", "/one")...)
	w.headers(true, 3, false, reqFields("POST", "/two")...)
	w.data(true, 1, true, make([]byte, 10000))
	w.data(true, 3, true, []byte("intact"))
	w.headers(false, 3, true, ":status", "200")
	w.headers(false, 1, true, ":status", "200")
	rec := newRecorder(t)
	c := NewParser(Options{}, rec)
	for i, s := range w.segs {
		if s.client && len(s.b) == 10009 {
			c.Feed(true, s.b[:3000], t0)
			c.Gap(true, 1000, t0)
			c.Feed(true, s.b[4000:], t0)
			continue
		}
		c.Feed(s.client, s.b, t0.Add(timeStep(i)))
	}
	if p := rec.byID(1); p.req.Drop != metrics.ReasonGap {
		t.Errorf("cut stream: drop %q", p.req.Drop)
	}
	if p := rec.byID(3); p.req.Drop != "" || string(p.req.Body) != "intact" || c.sides[0].dec.partial {
		t.Errorf("other stream: drop %q body %q; table partial %v", p.req.Drop, p.req.Body, c.sides[0].dec.partial)
	}
}
