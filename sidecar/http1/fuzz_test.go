package http1

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"net/http/httputil"
	"testing"

	"github.com/podtap/podtap/sidecar/message"
)

// fuzzInvarianceMax bounds the inputs whose halves must not depend on how
// they are split: past it, resync keeps only a line's tail, which depends
// on where the line was cut.
const fuzzInvarianceMax = resyncTail

// script turns fuzz input into a connection: both directions cut into
// interleaved chunks, and perhaps gaps, all chosen by seed.
func script(client, server []byte, seed uint64) []chunk {
	r := rand.New(rand.NewPCG(seed, seed>>32))
	cut := func(b []byte, isClient bool) []chunk {
		var out []chunk
		for len(b) > 0 {
			n := min(len(b), 1+r.IntN(len(b)))
			out = append(out, chunk{client: isClient, data: string(b[:n])})
			b = b[n:]
		}
		return out
	}
	cs, ss := cut(client, true), cut(server, false)
	var out []chunk
	for len(cs) > 0 || len(ss) > 0 {
		if len(ss) == 0 || len(cs) > 0 && r.IntN(2) == 0 {
			out, cs = append(out, cs[0]), cs[1:]
		} else {
			out, ss = append(out, ss[0]), ss[1:]
		}
		if r.IntN(16) == 0 {
			n := r.IntN(64) - 8
			if n == 0 {
				n = -1
			}
			out = append(out, chunk{client: r.IntN(2) == 0, gap: n})
		}
	}
	return out
}

// checkBounds asserts the limits every parse must respect.
func checkBounds(t *testing.T, opts Options, rec *recorder) {
	t.Helper()
	for _, e := range rec.events {
		var body []byte
		var size int64
		switch v := e.(type) {
		case *message.Request:
			body, size = v.Body, v.BodySize
		case *message.Response:
			body, size = v.Body, v.BodySize
		}
		if len(body) > opts.MaxBodyBytes || size < 0 {
			t.Fatalf("kept %d body bytes of %d, limit %d", len(body), size, opts.MaxBodyBytes)
		}
	}
	if n := rec.maxLineBuf; n > 4*max(opts.MaxHeaderBytes, resyncTail)+(64<<10) {
		t.Fatalf("a line buffer holds %d bytes", n)
	}
}

func FuzzParser(f *testing.F) {
	for _, s := range invarianceScripts() {
		var cb, sb []byte
		for _, ch := range s {
			if ch.client {
				cb = append(cb, ch.data...)
			} else {
				sb = append(sb, ch.data...)
			}
		}
		f.Add(cb, sb, uint64(len(cb)))
	}
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), []byte(get200), uint64(1))
	f.Add([]byte("GET/ HTTP/1.1\nHost: x\n\n"), []byte("HTTP/1.0 400 Bad Request\r\n\r\n"), uint64(2))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), []byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nclose"), uint64(3))
	opts := Options{MaxBodyBytes: 256, MaxHeaderBytes: 512, Judge: judge{}}
	f.Fuzz(func(t *testing.T, client, server []byte, seed uint64) {
		sc := script(client, server, seed)
		rec, c := run(t, opts, sc, nil)
		checkBounds(t, opts, rec)
		if len(client)+len(server) > fuzzInvarianceMax {
			return
		}
		r := rand.New(rand.NewPCG(seed, 1))
		rec2, c2 := run(t, opts, sc, func(b []byte) [][]byte { return randomSplit(r, b) })
		if got, want := describe(rec2.events), describe(rec.events); got != want {
			t.Fatalf("split input parsed differently:\n%s\nwhole:\n%s", got, want)
		}
		p1, _ := c.Switched()
		p2, _ := c2.Switched()
		if p1 != p2 {
			t.Fatalf("Switched %q split, %q whole", p2, p1)
		}
	})
}

// FuzzChunked checks the chunked decoder against Go's own: whenever
// net/http's reader decodes a chunked body to its end, podtap must decode
// the same bytes, however the input is split.
func FuzzChunked(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n"), uint64(0))
	f.Add([]byte("8 \r\n12345678\r\n4 \r\nabcd\r\n0\r\n"), uint64(1))
	f.Add([]byte("3;ext=1\r\nabc\r\n0;x\r\nTrailer: v\r\n"), uint64(2))
	f.Add([]byte("A\n0123456789\n0\n"), uint64(3))
	f.Add([]byte("0000000000000003\r\nabc\r\n0\r\n"), uint64(4))
	f.Add([]byte("fffffffffffffffff\r\n"), uint64(5))
	f.Add([]byte("3\r\nabcX\r\n0\r\n"), uint64(6))
	const head = "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	opts := Options{MaxBodyBytes: 1 << 16}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		in := head + string(data) + "\r\n"
		rec, _ := run(t, opts, []chunk{cl(in)}, nil)
		r := rand.New(rand.NewPCG(seed, 2))
		rec2, _ := run(t, opts, []chunk{cl(in)}, func(b []byte) [][]byte { return randomSplit(r, b) })
		if got, want := describe(rec2.events), describe(rec.events); got != want {
			t.Fatalf("split input parsed differently:\n%s\nwhole:\n%s", got, want)
		}
		reqs := rec.requests()
		if len(reqs) == 0 {
			t.Fatalf("no request for %q", in)
		}
		src := bytes.NewReader(data)
		br := bufio.NewReader(src)
		want, err := io.ReadAll(httputil.NewChunkedReader(br))
		consumed := len(data) - src.Len() - br.Buffered()
		if err != nil || consumed != len(data) || len(want) > opts.MaxBodyBytes {
			return
		}
		got := reqs[0]
		if got.Drop != "" || !bytes.Equal(got.Body, want) && !(len(want) == 0 && got.Body == nil) {
			t.Fatalf("net/http decodes %q to %q; podtap: %s", data, want, summary(got))
		}
	})
}
