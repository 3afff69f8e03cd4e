package http2

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/podtap/podtap/sidecar/message"
)

// segment is one write of one side, as a capture would deliver it.
type segment struct {
	client bool
	b      []byte
}

// wire writes both sides of an HTTP/2 connection with x/net's framer and
// HPACK encoder, an implementation independent of the parser's, and keeps
// every frame in order.
type wire struct {
	t          testing.TB
	segs       []segment
	cf, sf     *http2.Framer
	cenc, senc *hpack.Encoder
	cblk, sblk bytes.Buffer
}

type sideWriter struct {
	w      *wire
	client bool
}

func (s sideWriter) Write(p []byte) (int, error) {
	s.w.segs = append(s.w.segs, segment{client: s.client, b: bytes.Clone(p)})
	return len(p), nil
}

// newWire starts a connection with the preface and both SETTINGS.
func newWire(t testing.TB) *wire {
	w := &wire{t: t}
	w.segs = append(w.segs, segment{client: true, b: []byte(http2.ClientPreface)})
	w.cf = http2.NewFramer(sideWriter{w, true}, nil)
	w.sf = http2.NewFramer(sideWriter{w, false}, nil)
	w.cf.AllowIllegalWrites = true
	w.sf.AllowIllegalWrites = true
	w.cenc = hpack.NewEncoder(&w.cblk)
	w.senc = hpack.NewEncoder(&w.sblk)
	w.must(w.cf.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}))
	w.must(w.sf.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100}))
	w.must(w.sf.WriteSettingsAck())
	w.must(w.cf.WriteSettingsAck())
	return w
}

func (w *wire) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *wire) framer(client bool) *http2.Framer {
	if client {
		return w.cf
	}
	return w.sf
}

// block HPACK-encodes name/value pairs with the side's encoder.
func (w *wire) block(client bool, kv ...string) []byte {
	enc, buf := w.senc, &w.sblk
	if client {
		enc, buf = w.cenc, &w.cblk
	}
	buf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		w.must(enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]}))
	}
	return bytes.Clone(buf.Bytes())
}

// headers writes a header block in one HEADERS frame.
func (w *wire) headers(client bool, id uint32, end bool, kv ...string) {
	w.must(w.framer(client).WriteHeaders(http2.HeadersFrameParam{
		StreamID: id, BlockFragment: w.block(client, kv...), EndStream: end, EndHeaders: true,
	}))
}

// headersSplit writes a header block as HEADERS (padded, with priority)
// and CONTINUATION frames of at most chunk bytes.
func (w *wire) headersSplit(client bool, id uint32, end bool, chunk int, kv ...string) {
	blk := w.block(client, kv...)
	first := blk[:min(chunk, len(blk))]
	blk = blk[len(first):]
	w.must(w.framer(client).WriteHeaders(http2.HeadersFrameParam{
		StreamID: id, BlockFragment: first, EndStream: end, EndHeaders: len(blk) == 0,
		PadLength: 7, Priority: http2.PriorityParam{StreamDep: 0, Weight: 15, Exclusive: true},
	}))
	for len(blk) > 0 {
		n := min(chunk, len(blk))
		w.must(w.framer(client).WriteContinuation(id, n == len(blk), blk[:n]))
		blk = blk[n:]
	}
}

// data writes b in DATA frames of the default maximum size.
func (w *wire) data(client bool, id uint32, end bool, b []byte) {
	for len(b) > defaultMaxFrame {
		w.must(w.framer(client).WriteData(id, false, b[:defaultMaxFrame]))
		b = b[defaultMaxFrame:]
	}
	w.must(w.framer(client).WriteData(id, end, b))
}

func (w *wire) dataPadded(client bool, id uint32, end bool, b []byte, pad int) {
	w.must(w.framer(client).WriteDataPadded(id, end, b, make([]byte, pad)))
}

// sizeUpdate makes the side's encoder announce a new table size.
func (w *wire) sizeUpdate(client bool, size uint32) {
	enc := w.senc
	if client {
		enc = w.cenc
	}
	enc.SetMaxDynamicTableSizeLimit(size)
	enc.SetMaxDynamicTableSize(size)
}

// feed replays segments into c in order.
func feed(c *Parser, segs []segment, ts time.Time) {
	for i, s := range segs {
		c.Feed(s.client, s.b, ts.Add(time.Duration(i)*time.Millisecond))
	}
}

// parseAll feeds segs to a new connection, closes it, and returns what
// came out.
func parseAll(t testing.TB, opts Options, segs []segment) *recorder {
	t.Helper()
	rec := newRecorder(t)
	c := NewParser(opts, rec)
	feed(c, segs, t0)
	c.Close(t0)
	return rec
}

// bytesOf concatenates one side's segments.
func bytesOf(segs []segment, client bool) []byte {
	var b []byte
	for _, s := range segs {
		if s.client == client {
			b = append(b, s.b...)
		}
	}
	return b
}

// pairT is one stream as the recorder saw it handed on.
type pairT struct {
	req  *message.Request
	resp *message.Response
}

// recorder pairs halves by stream id, as the pair stage does, and checks
// the order it relies on: a request before its response, once per stream.
type recorder struct {
	t       testing.TB
	pending map[uint32]*message.Request
	pairs   []pairT
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, pending: map[uint32]*message.Request{}}
}

func (r *recorder) Request(q *message.Request) {
	if q.StreamID == 0 {
		r.t.Errorf("request without stream id: %+v", q)
	}
	if _, dup := r.pending[q.StreamID]; dup {
		r.t.Errorf("stream %d: second request", q.StreamID)
	}
	r.pending[q.StreamID] = q
}

func (r *recorder) Response(p *message.Response) {
	q, ok := r.pending[p.StreamID]
	if !ok {
		r.t.Errorf("stream %d: response without request", p.StreamID)
	}
	delete(r.pending, p.StreamID)
	r.pairs = append(r.pairs, pairT{q, p})
}

// byID returns the pair of a stream.
func (r *recorder) byID(id uint32) pairT {
	r.t.Helper()
	for _, p := range r.pairs {
		if p.resp.StreamID == id {
			return p
		}
	}
	r.t.Fatalf("no pair for stream %d (have %d pairs)", id, len(r.pairs))
	return pairT{}
}

// grpcFrame frames one gRPC message, compressed with gzip when asked.
func grpcFrame(t testing.TB, msg []byte, compress bool) []byte {
	flag := byte(0)
	if compress {
		msg, flag = gzipped(t, msg), 1
	}
	out := make([]byte, 5, 5+len(msg))
	out[0] = flag
	binary.BigEndian.PutUint32(out[1:], uint32(len(msg)))
	return append(out, msg...)
}

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func timeStep(i int) time.Duration { return time.Duration(i) * time.Millisecond }
