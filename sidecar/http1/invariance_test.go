package http1

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// invarianceScripts exercise every state of the parser; each must parse
// the same however the capture happens to cut its segments.
func invarianceScripts() map[string][]chunk {
	big := strings.Repeat("0123456789", 50)
	return map[string][]chunk{
		"keep-alive and pipelining": {
			cl("GET /a?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\n\r\n" + withBody("POST /b HTTP/1.1\r\nContent-Type: application/json\r\n", jsonB)),
			sv(get200 + withBody("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n", big)),
			cl("\r\nHEAD /c HTTP/1.1\r\n\r\nGET /d HTTP/1.0\n\n"),
			sv("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.0 200 OK\r\n\r\n" + big),
		},
		"chunked, trailers, interim, coding": {
			cl("POST /up HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"),
			sv("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"),
			cl("8 \r\n12345678\r\n4;e=1\r\nabcd\r\n0\r\nX-T: 1\r\n X-Fold\r\n\r\n"),
			sv("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(gzipped(big), 17)),
			cl(withBody("PUT /br HTTP/1.1\r\nContent-Encoding: br\r\n", brotlied(big))),
			sv("HTTP/1.1 204 No Content\r\n\r\n"),
		},
		"gaps": {
			cl("POST /a HTTP/1.1\r\nContent-Length: 20\r\n\r\n12345"), cgap(10), cl("12345"),
			sv(withBody("HTTP/1.1 200 OK\r\n", big)[:60]), sgap(200), sv(big[:50] + get200),
			cl("GET /b HTTP/1.1\r\nHost: x\r\n"), cgap(-1), cl("junk\r\nmore junk GET /c HTTP/1.1\r\n\r\n"),
			sv(get200), sgap(5), sv("tail" + get200),
		},
		"garbage and limits": {
			cl("GET/ HTTP/1.1\nHost: www.google.com\n\nOPTIONS\n\n\x16\x03binary\r\nGET /ok HTTP/1.1\r\nX-Big: " + strings.Repeat("b", 300) + "\r\n\r\nGET /after HTTP/1.1\r\n\r\n"),
			sv("HTTP/1.0 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad<html>\r\n" + get200 + "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello" + get200),
			cl(withBody("POST /large HTTP/1.1\r\n", big)), sv(withBody("HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n", zlibbed(big))),
			cl("POST /chunk HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\nGET /z HTTP/1.1\r\n\r\n"),
		},
		"websocket": {
			cl("GET /a HTTP/1.1\r\n\r\n"), sv(get200),
			cl(wsRequest + wsFrame), sv(ws101 + wsFrame), cl(wsFrame),
		},
		"h2c": {
			cl("GET /a HTTP/1.1\r\n\r\n" + h2cReq), sv(get200), sv(h2c101 + settings), cl(preface + settings),
		},
		"h2c preface first": {
			cl(h2cReq), cl(preface + settings), sv(h2c101 + settings),
		},
		"prior knowledge after HTTP/1": {
			cl("GET /a HTTP/1.1\r\n\r\n" + preface + settings), sv(get200 + settings),
		},
		"connect": {
			cl("CONNECT a:443 HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\n"), sv("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n" + get200),
			cl("CONNECT b:443 HTTP/1.1\r\n\r\n\x16\x03\x01"), sv("HTTP/1.1 200 OK\r\n\r\n\x16\x03\x03"),
		},
	}
}

func TestChunkingInvariance(t *testing.T) {
	opts := Options{MaxBodyBytes: 300, MaxHeaderBytes: 200, Judge: judge{}}
	for name, script := range invarianceScripts() {
		t.Run(name, func(t *testing.T) {
			whole, wc := run(t, opts, script, nil)
			want := describe(whole.events)
			wantProto, _ := wc.Switched()
			if want == "" && wantProto == "" {
				t.Fatal("the script produced nothing")
			}
			check := func(how string, split func([]byte) [][]byte) {
				rec, c := run(t, opts, script, split)
				if got := describe(rec.events); got != want {
					t.Fatalf("fed %s:\n%s\nfed whole:\n%s", how, got, want)
				}
				if proto, _ := c.Switched(); proto != wantProto {
					t.Fatalf("fed %s: Switched %q, whole %q", how, proto, wantProto)
				}
			}
			check("byte by byte", func(b []byte) [][]byte {
				out := make([][]byte, len(b))
				for i := range b {
					out[i] = b[i : i+1]
				}
				return out
			})
			for seed := range uint64(20) {
				r := rand.New(rand.NewPCG(seed, 7))
				check("in random pieces", func(b []byte) [][]byte { return randomSplit(r, b) })
			}
		})
	}
}

func randomSplit(r *rand.Rand, b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := min(len(b), 1+r.IntN(40))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}
