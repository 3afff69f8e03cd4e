package http2

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"golang.org/x/net/http2"

	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

func reqFields(method, path string, extra ...string) []string {
	return append([]string{":method", method, ":scheme", "http", ":authority", "api.test:8080", ":path", path}, extra...)
}

func TestSimpleExchange(t *testing.T) {
	w := newWire(t)
	w.headers(true, 1, false, reqFields("POST", "/v1/items?x=1&y=2", "content-type", "application/json", "user-agent", "t/1")...)
	w.data(true, 1, true, []byte(`{"a":1}`))
	w.headers(false, 1, false, ":status", "201", "content-type", "application/json")
	w.data(false, 1, false, []byte(`{"id":`))
	w.data(false, 1, true, []byte(`7}`))

	rec := parseAll(t, Options{}, w.segs)

	if len(rec.pairs) != 1 {
		t.Fatalf("got %d pairs, want 1", len(rec.pairs))
	}
	p := rec.pairs[0]
	q, r := p.req, p.resp
	if q.Drop != "" || r.Drop != "" {
		t.Fatalf("dropped: %q %q", q.Drop, r.Drop)
	}
	if q.Proto != message.ProtoH2 || q.Method != "POST" || q.Path != "/v1/items" || q.Query != "x=1&y=2" || q.Authority != "api.test:8080" {
		t.Errorf("request line: %+v", q)
	}
	if q.ContentType != "application/json" || q.Headers.Get("user-agent") != "t/1" || q.Headers.Has(":method") {
		t.Errorf("request headers: %+v", q.Headers)
	}
	if string(q.Body) != `{"a":1}` || q.BodySize != 7 {
		t.Errorf("request body %q size %d", q.Body, q.BodySize)
	}
	if r.Status != 201 || string(r.Body) != `{"id":7}` || r.BodySize != 8 || r.Truncated {
		t.Errorf("response: status %d body %q size %d truncated %v", r.Status, r.Body, r.BodySize, r.Truncated)
	}
	if !q.Start.Before(r.End) || q.End.Before(q.Start) {
		t.Errorf("times: req %v..%v resp %v..%v", q.Start, q.End, r.Start, r.End)
	}
}

// TestFrameTypes interleaves every frame type with three concurrent
// streams: padding, priority, CONTINUATION, trailers, PING, PRIORITY,
// WINDOW_UPDATE, RST_STREAM, SETTINGS and an unknown frame type.
// TestInterimResponses checks 1xx responses before the final one are
// folded into it as Interim, none of their fields left in the response
// that takes their room, and that its trailers then fit beside its headers.
func TestInterimResponses(t *testing.T) {
	w := newWire(t)
	w.headers(true, 1, true, reqFields("GET", "/doc")...)
	w.headers(false, 1, false, ":status", "100", "x-interim", "1")
	w.headers(false, 1, false, ":status", "103", "link", "</style.css>; rel=preload", "x-interim", "2")
	w.headers(false, 1, false, ":status", "200", "content-type", "text/plain")
	w.data(false, 1, false, []byte("ok"))
	w.headers(false, 1, true, "x-checksum", "abc")

	rec := parseAll(t, Options{}, w.segs)
	if len(rec.pairs) != 1 {
		t.Fatalf("got %d pairs, want 1", len(rec.pairs))
	}
	r := rec.pairs[0].resp
	want := message.Headers{{Name: "content-type", Value: "text/plain"}}
	if r.Status != 200 || !slices.Equal(r.Interim, []int{100, 103}) || !slices.Equal(r.Headers, want) || string(r.Body) != "ok" {
		t.Fatalf("response: status %d interim %v headers %v body %q", r.Status, r.Interim, r.Headers, r.Body)
	}
	if !slices.Equal(r.Trailers, message.Headers{{Name: "x-checksum", Value: "abc"}}) || !slices.Equal(r.Headers, want) {
		t.Errorf("trailers %v, headers after them %v", r.Trailers, r.Headers)
	}
}

func TestFrameTypes(t *testing.T) {
	w := newWire(t)
	long := strings.Repeat("v", 300)
	w.headersSplit(true, 1, false, 16, reqFields("POST", "/a", "content-type", "application/json", "x-long", long)...)
	w.headers(true, 3, true, reqFields("GET", "/b")...)
	w.must(w.cf.WritePing(false, [8]byte{1}))
	w.must(w.sf.WritePing(true, [8]byte{1}))
	w.must(w.cf.WritePriority(3, http2.PriorityParam{StreamDep: 1, Weight: 3}))
	w.headers(true, 5, true, reqFields("GET", "/c")...)
	w.dataPadded(true, 1, false, []byte(`{"k":`), 10)
	w.must(w.sf.WriteWindowUpdate(0, 1000))
	w.must(w.sf.WriteWindowUpdate(1, 1000))
	w.must(w.cf.WriteRawFrame(0xbb, 0x5, 1, []byte("extension")))
	w.dataPadded(true, 1, false, []byte(`"v"}`), 0)
	w.headers(true, 1, true, "x-trailer", "t1")
	w.headersSplit(false, 3, false, 5, ":status", "200", "content-type", "application/json", "x-long", long)
	w.headers(false, 1, false, ":status", "200", "content-type", "application/json")
	w.dataPadded(false, 3, false, []byte(`[1,`), 255)
	w.must(w.sf.WriteRSTStream(5, http2.ErrCodeRefusedStream))
	w.data(false, 1, false, []byte(`{}`))
	w.dataPadded(false, 3, false, []byte(`2]`), 1)
	w.headersSplit(false, 3, true, 3, "grpc-status", "0", "x-trailer", "t3")
	w.headers(false, 1, true, "x-trailer", "t-one")
	w.must(w.sf.WriteGoAway(5, http2.ErrCodeNo, nil))

	rec := parseAll(t, Options{}, w.segs)

	if len(rec.pairs) != 3 || len(rec.pending) != 0 {
		t.Fatalf("got %d pairs and %d requests pending, want 3 and 0", len(rec.pairs), len(rec.pending))
	}
	one := rec.byID(1)
	if one.req.Path != "/a" || one.req.Headers.Get("x-long") != long || string(one.req.Body) != `{"k":"v"}` {
		t.Errorf("stream 1 request: path %q body %q", one.req.Path, one.req.Body)
	}
	if got := one.req.Trailers.Get("x-trailer"); got != "t1" {
		t.Errorf("stream 1 request trailer %q", got)
	}
	if string(one.resp.Body) != "{}" || one.resp.Trailers.Get("x-trailer") != "t-one" {
		t.Errorf("stream 1 response: %q %+v", one.resp.Body, one.resp.Trailers)
	}
	three := rec.byID(3)
	if three.req.Method != "GET" || three.req.Path != "/b" || three.resp.Status != 200 {
		t.Errorf("stream 3: %+v %+v", three.req, three.resp)
	}
	if string(three.resp.Body) != "[1,2]" || three.resp.Headers.Get("x-long") != long || three.resp.Trailers.Get("x-trailer") != "t3" {
		t.Errorf("stream 3 response: %q trailers %+v", three.resp.Body, three.resp.Trailers)
	}
	five := rec.byID(5)
	if five.req.Path != "/c" || five.resp.Drop != metrics.ReasonNoResponse {
		t.Errorf("stream 5 reset before its response: req %q, resp drop %q", five.req.Path, five.resp.Drop)
	}
}

// TestSplitDelivery feeds the same connection cut into every segment size
// from 1 byte up, including cuts inside frame headers and padding.
func TestSplitDelivery(t *testing.T) {
	w := newWire(t)
	w.headersSplit(true, 1, false, 7, reqFields("POST", "/split", "content-type", "application/json")...)
	w.dataPadded(true, 1, true, []byte(`{"n":1}`), 9)
	w.headersSplit(false, 1, false, 4, ":status", "200", "content-type", "application/json")
	w.dataPadded(false, 1, true, []byte(`{"ok":true}`), 3)
	for _, size := range []int{1, 2, 3, 5, 8, 9, 10, 17, 64, 1 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			rec := newRecorder(t)
			c := NewParser(Options{}, rec)
			for i, s := range w.segs {
				for b := s.b; len(b) > 0; {
					n := min(size, len(b))
					c.Feed(s.client, b[:n], t0.Add(timeStep(i)))
					b = b[n:]
				}
			}
			c.Close(t0)
			p := rec.byID(1)
			if p.req.Path != "/split" || string(p.req.Body) != `{"n":1}` || string(p.resp.Body) != `{"ok":true}` || p.resp.Status != 200 {
				t.Errorf("pair: %q %q %d %q", p.req.Path, p.req.Body, p.resp.Status, p.resp.Body)
			}
		})
	}
}

// TestHeaderTableSize changes the table size both ways: by SETTINGS plus
// the encoder's size update, down to zero (which empties the table) and
// back up, with requests decoded correctly throughout.
func TestHeaderTableSize(t *testing.T) {
	w := newWire(t)
	id := uint32(1)
	call := func(tag string) {
		w.headers(true, id, true, reqFields("GET", "/t/"+tag, "x-tag", tag, "x-same", "same")...)
		w.headers(false, id, true, ":status", "200", "x-tag", tag, "x-same", "same")
		id += 2
	}
	call("a")
	call("b")
	w.must(w.sf.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0}))
	w.sizeUpdate(true, 0)
	call("c")
	w.must(w.cf.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 256}))
	w.sizeUpdate(false, 256)
	call("d")
	w.must(w.sf.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 8192}))
	w.sizeUpdate(true, 8192)
	for i := range 40 {
		call(fmt.Sprint("e", i))
	}

	rec := newRecorder(t)
	c := NewParser(Options{}, rec)
	feed(c, w.segs, t0)
	c.Close(t0)
	if len(rec.pairs) != 44 {
		t.Fatalf("got %d pairs, want 44", len(rec.pairs))
	}
	for _, p := range rec.pairs {
		tag := strings.TrimPrefix(p.req.Path, "/t/")
		if p.req.Headers.Get("x-tag") != tag || p.resp.Headers.Get("x-tag") != tag || p.resp.Headers.Get("x-same") != "same" {
			t.Errorf("stream %d: path %q, tags %q %q", p.req.StreamID, p.req.Path, p.req.Headers.Get("x-tag"), p.resp.Headers.Get("x-tag"))
		}
		if slices.Contains(p.req.Flags, message.FlagHPACKUnknown) || slices.Contains(p.resp.Flags, message.FlagHPACKUnknown) {
			t.Errorf("stream %d flagged unknown on a connection seen from its start", p.req.StreamID)
		}
	}
	if got := c.sides[1].dec.table.max; got != 256 {
		t.Errorf("server table max %d, want 256", got)
	}
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

func TestContentEncoding(t *testing.T) {
	plain := []byte(strings.Repeat(`{"word":"hello"},`, 50))
	var br bytes.Buffer
	bw := brotli.NewWriter(&br)
	bw.Write(plain)
	bw.Close()

	w := newWire(t)
	w.headers(true, 1, true, reqFields("GET", "/gz", "accept-encoding", "gzip")...)
	w.headers(false, 1, false, ":status", "200", "content-encoding", "gzip", "content-type", "application/json")
	w.data(false, 1, true, gzipped(t, plain))
	w.headers(true, 3, true, reqFields("GET", "/br")...)
	w.headers(false, 3, false, ":status", "200", "content-encoding", "br")
	w.data(false, 3, true, br.Bytes())
	w.headers(true, 5, true, reqFields("GET", "/big")...)
	w.headers(false, 5, false, ":status", "200", "content-encoding", "gzip")
	w.data(false, 5, true, gzipped(t, append(plain, "more"...)))
	w.headers(true, 7, true, reqFields("GET", "/broken")...)
	w.headers(false, 7, false, ":status", "200", "content-encoding", "gzip")
	w.data(false, 7, true, []byte("not gzip at all"))

	rec := newRecorder(t)
	c := NewParser(Options{MaxBodyBytes: len(plain)}, rec)
	feed(c, w.segs, t0)

	for _, id := range []uint32{1, 3} {
		p := rec.byID(id)
		if p.resp.Drop != "" || !bytes.Equal(p.resp.Body, plain) || p.resp.BodySize != int64(len(plain)) {
			t.Errorf("stream %d: drop %q, body %d bytes, size %d, want %d", id, p.resp.Drop, len(p.resp.Body), p.resp.BodySize, len(plain))
		}
	}
	if p := rec.byID(5); p.resp.Drop != metrics.ReasonTooLarge {
		t.Errorf("decoded body over the limit: drop %q", p.resp.Drop)
	}
	if p := rec.byID(7); p.resp.Drop != "" || string(p.resp.Body) != "not gzip at all" || !slices.Contains(p.resp.Flags, message.FlagBodyUndecoded) {
		t.Errorf("undecodable body: drop %q body %q flags %v", p.resp.Drop, p.resp.Body, p.resp.Flags)
	}
}

func TestBodyLimitSkipsBytes(t *testing.T) {
	w := newWire(t)
	w.headers(true, 1, false, reqFields("POST", "/upload")...)
	for range 10 {
		w.data(true, 1, false, make([]byte, 1000))
	}
	w.data(true, 1, true, nil)
	w.headers(false, 1, true, ":status", "204")
	rec := newRecorder(t)
	c := NewParser(Options{MaxBodyBytes: 4096}, rec)
	feed(c, w.segs, t0)
	p := rec.byID(1)
	if p.req.Drop != metrics.ReasonTooLarge || p.req.Body != nil || p.req.BodySize != 10000 {
		t.Errorf("over-limit request: drop %q body %d size %d", p.req.Drop, len(p.req.Body), p.req.BodySize)
	}
}

type judge struct{ dropPath, dropStatus string }

func (j judge) JudgeRequest(r *message.Request) string {
	if r.Path == j.dropPath {
		return metrics.ReasonPath
	}
	return ""
}

func (j judge) JudgeResponse(_ *message.Request, r *message.Response) string {
	if fmt.Sprint(r.Status) == j.dropStatus {
		return metrics.ReasonStatus
	}
	return ""
}

func TestJudgeSkipsBodies(t *testing.T) {
	w := newWire(t)
	w.headers(true, 1, false, reqFields("POST", "/healthz")...)
	w.data(true, 1, true, []byte("ping"))
	w.headers(false, 1, false, ":status", "200")
	w.data(false, 1, true, []byte("pong"))
	w.headers(true, 3, true, reqFields("GET", "/missing")...)
	w.headers(false, 3, false, ":status", "404")
	w.data(false, 3, true, []byte("not found"))
	rec := newRecorder(t)
	c := NewParser(Options{Judge: judge{dropPath: "/healthz", dropStatus: "404"}}, rec)
	feed(c, w.segs, t0)
	if p := rec.byID(1); p.req.Drop != metrics.ReasonPath || p.req.Body != nil || p.req.BodySize != 4 || p.resp.Body != nil {
		t.Errorf("judged request: drop %q body %q size %d, response body %q", p.req.Drop, p.req.Body, p.req.BodySize, p.resp.Body)
	}
	if p := rec.byID(3); p.resp.Drop != metrics.ReasonStatus || p.resp.Body != nil || p.resp.BodySize != 9 {
		t.Errorf("judged response: drop %q body %q size %d", p.resp.Drop, p.resp.Body, p.resp.BodySize)
	}
}

func TestRolesSwapped(t *testing.T) {
	w := newWire(t)
	w.headers(true, 1, true, reqFields("GET", "/swap")...)
	w.headers(false, 1, true, ":status", "200")
	rec := newRecorder(t)
	c := NewParser(Options{}, rec)
	for i, s := range w.segs {
		c.Feed(!s.client, s.b, t0.Add(timeStep(i)))
	}
	if p := rec.byID(1); p.req.Path != "/swap" || p.resp.Status != 200 {
		t.Errorf("pair with roles given backwards: %+v %+v", p.req, p.resp)
	}
}

func TestPushPromise(t *testing.T) {
	w := newWire(t)
	w.headers(true, 1, true, reqFields("GET", "/page")...)
	w.must(w.sf.WritePushPromise(http2.PushPromiseParam{
		StreamID: 1, PromiseID: 2, EndHeaders: true, PadLength: 4,
		BlockFragment: w.block(false, reqFields("GET", "/style.css")...),
	}))
	w.headers(false, 1, false, ":status", "200")
	w.data(false, 1, true, []byte("<html>"))
	w.headers(false, 2, false, ":status", "200", "content-type", "text/css")
	w.data(false, 2, true, []byte("body{}"))
	rec := newRecorder(t)
	c := NewParser(Options{}, rec)
	feed(c, w.segs, t0)
	if p := rec.byID(2); p.req.Path != "/style.css" || string(p.resp.Body) != "body{}" {
		t.Errorf("pushed pair: %q %q", p.req.Path, p.resp.Body)
	}
	if p := rec.byID(1); string(p.resp.Body) != "<html>" {
		t.Errorf("page: %q", p.resp.Body)
	}
}

func TestUpgradedParser(t *testing.T) {
	req := &message.Request{
		Proto: message.ProtoHTTP11, Method: "GET", Path: "/eicar", Authority: "127.0.0.1:8080",
		Headers: message.Headers{{Name: "host", Value: "127.0.0.1:8080"}, {Name: "upgrade", Value: "h2c"},
			{Name: "http2-settings", Value: "AAMAAABkAARAAAAAAAIAAAAA"}},
		Start: t0, End: t0,
	}
	w := newWire(t)
	w.segs = w.segs[:0]
	w.segs = append(w.segs, segment{client: true, b: []byte(http2.ClientPreface)})
	w.must(w.sf.WriteSettings())
	w.must(w.cf.WriteSettings())
	w.headers(false, 1, false, ":status", "206", "content-type", "text/plain; charset=utf-8")
	w.data(false, 1, true, []byte("hello world"))
	w.headers(true, 3, true, reqFields("GET", "/second")...)
	w.headers(false, 3, true, ":status", "304")
	rec := newRecorder(t)
	c := NewUpgradedParser(Options{}, rec, req)
	feed(c, w.segs, t0)
	c.Close(t0)
	p := rec.byID(1)
	if p.req != req || p.req.Proto != message.ProtoH2 || p.resp.Status != 206 || string(p.resp.Body) != "hello world" {
		t.Errorf("stream 1: %+v %+v", p.req, p.resp)
	}
	if p := rec.byID(3); p.req.Path != "/second" || p.resp.Status != 304 {
		t.Errorf("stream 3: %+v", p)
	}
}

func TestManyConcurrentStreams(t *testing.T) {
	w := newWire(t)
	const n = 200
	for i := range n {
		id := uint32(2*i + 1)
		w.headers(true, id, false, reqFields("POST", fmt.Sprintf("/s/%d", i), "content-type", "application/json")...)
	}
	for i := range n {
		id := uint32(2*i + 1)
		w.data(true, id, true, []byte(fmt.Sprintf(`{"i":%d}`, i)))
	}
	for i := n - 1; i >= 0; i-- {
		id := uint32(2*i + 1)
		w.headers(false, id, false, ":status", "200", "content-type", "application/json")
		w.data(false, id, false, []byte(`{"r":`))
	}
	for i := range n {
		id := uint32(2*i + 1)
		w.data(false, id, true, []byte(fmt.Sprintf(`%d}`, i)))
	}
	rec := parseAll(t, Options{MaxStreams: 150}, w.segs)
	if len(rec.pairs) != n {
		t.Fatalf("got %d pairs, want %d", len(rec.pairs), n)
	}
	evicted := 0
	for _, p := range rec.pairs {
		if p.req.Drop == metrics.ReasonPendingLimit {
			evicted++
			continue
		}
		i := strings.TrimPrefix(p.req.Path, "/s/")
		if string(p.req.Body) != `{"i":`+i+`}` || string(p.resp.Body) != `{"r":`+i+`}` {
			t.Errorf("stream %d: %q %q", p.req.StreamID, p.req.Body, p.resp.Body)
		}
	}
	if evicted != n-150 {
		t.Errorf("%d streams abandoned past the limit, want %d", evicted, n-150)
	}
}

func TestCloseHandsOnOpenStreams(t *testing.T) {
	w := newWire(t)
	w.headers(true, 1, true, reqFields("GET", "/slow")...)
	w.headers(true, 3, true, reqFields("GET", "/partial")...)
	w.headers(false, 3, false, ":status", "200")
	w.data(false, 3, false, []byte("par"))
	rec := newRecorder(t)
	c := NewParser(Options{}, rec)
	feed(c, w.segs, t0)
	if len(rec.pairs) != 0 {
		t.Fatalf("pairs before close: %d", len(rec.pairs))
	}
	c.Close(t0)
	got := []string{}
	for _, p := range rec.pairs {
		got = append(got, p.req.Path+":"+p.resp.Drop)
	}
	slices.Sort(got)
	if want := []string{"/partial:no_response", "/slow:no_response"}; !slices.Equal(got, want) {
		t.Errorf("closed streams %v, want %v", got, want)
	}
}
