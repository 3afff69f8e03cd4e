package http1

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

func gzipped(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func zlibbed(s string) string {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func deflated(s string) string {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.DefaultCompression)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func brotlied(s string) string {
	var b bytes.Buffer
	w := brotli.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// withBody builds a message head plus a Content-Length body.
func withBody(head, body string) string {
	return fmt.Sprintf("%sContent-Length: %d\r\n\r\n%s", head, len(body), body)
}

// chunked encodes body as chunks of n bytes.
func chunked(body string, n int) string {
	var b strings.Builder
	for len(body) > 0 {
		k := min(n, len(body))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", k, body[:k])
		body = body[k:]
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

const (
	get200 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	jsonB  = `{"id":1,"name":"podtap"}`
)

// judge drops by path and by status, as the filter stage does.
type judge struct{}

func (judge) JudgeRequest(r *message.Request) string {
	if r.Path == "/metrics" {
		return metrics.ReasonPath
	}
	return ""
}

func (judge) JudgeResponse(_ *message.Request, r *message.Response) string {
	if r.Status >= 400 {
		return metrics.ReasonStatus
	}
	return ""
}

func TestParser(t *testing.T) {
	big := strings.Repeat("x", 100)
	tests := []struct {
		name   string
		opts   Options
		script []chunk
		want   []string
		proto  string
	}{
		{
			name: "keep-alive",
			script: []chunk{
				cl("GET /a HTTP/1.1\r\nHost: h\r\n\r\n"), sv(get200),
				cl("GET /b?x=1&y=2 HTTP/1.1\r\nHost: h\r\n\r\n"), sv(get200),
				cl(withBody("POST /c HTTP/1.1\r\nContent-Type: application/json\r\n", jsonB)), sv("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
			},
			want: []string{`> GET /a`, `< 200 body="ok"`, `> GET /b?x=1&y=2`, `< 200 body="ok"`, `> POST /c body="` + strings.ReplaceAll(jsonB, `"`, `\"`) + `"`, `< 201`},
		},
		{
			name: "pipelining",
			script: []chunk{
				cl("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n" + withBody("PUT /3 HTTP/1.1\r\n", "abc")),
				sv(get200 + "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n" + "HTTP/1.1 204 No Content\r\n\r\n"),
			},
			want: []string{`> GET /1`, `> GET /2`, `> PUT /3 body="abc"`, `< 200 body="ok"`, `< 404`, `< 204`},
		},
		{
			name: "chunked with extensions and trailers",
			script: []chunk{
				cl("POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3;name=value\r\nabc\r\n4 ; ext=\"q\"\r\ndefg\r\n0;last\r\nX-Sum: 7\r\nX-Other:  two \r\n\r\n"),
				sv("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
			},
			want: []string{`> POST /up body="abcdefg" trailers=x-sum:7,x-other:two`, `< 200 body="hello"`},
		},
		{
			name: "chunk sizes with trailing spaces",
			script: []chunk{
				cl("POST /e HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8 \r\n12345678\r\n4 \r\nabcd\r\n0 \r\n\r\n"),
				sv(get200),
			},
			want: []string{`> POST /e body="12345678abcd"`, `< 200 body="ok"`},
		},
		{
			name: "chunked with bare LF and upper-case hex",
			script: []chunk{
				cl("GET / HTTP/1.1\n\n"),
				sv("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\nA\n0123456789\n0\n\n"),
			},
			want: []string{`> GET /`, `< 200 body="0123456789"`},
		},
		{
			name: "close-delimited HTTP/1.0 response",
			script: []chunk{
				cl("GET /old HTTP/1.0\r\n\r\n"),
				sv("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part "), sv("second part"),
			},
			want: []string{`> GET /old http/1.0`, `< 200 http/1.0 body="first part second part"`},
		},
		{
			name: "close-delimited with Connection: close",
			script: []chunk{
				cl("GET / HTTP/1.1\r\n\r\n"),
				sv("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + big),
			},
			want: []string{`> GET /`, `< 200 body="` + big + `"`},
		},
		{
			name: "several interim responses",
			script: []chunk{
				cl("GET / HTTP/1.1\r\n\r\n"),
				sv("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"),
				sv("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" + get200),
			},
			want: []string{`> GET /`, `< 200 interim=[100 102 103] body="ok"`},
		},
		{
			name: "100-continue",
			script: []chunk{
				cl("POST /upload HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"),
				sv("HTTP/1.1 100 Continue\r\n\r\n"),
				cl("hello"),
				sv(get200),
				cl("GET /next HTTP/1.1\r\n\r\n"), sv(get200),
			},
			want: []string{`> POST /upload body="hello"`, `< 200 interim=[100] body="ok"`, `> GET /next`, `< 200 body="ok"`},
		},
		{
			name: "HEAD 204 304 have no body",
			script: []chunk{
				cl("HEAD /h HTTP/1.1\r\n\r\nDELETE /d HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\nIf-None-Match: \"x\"\r\n\r\nGET /n HTTP/1.1\r\n\r\n"),
				sv("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
				sv("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"),
				sv("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"),
				sv(get200),
			},
			want: []string{`> HEAD /h`, `> DELETE /d`, `> GET /c`, `> GET /n`, `< 200`, `< 204`, `< 304`, `< 200 body="ok"`},
		},
		{
			name: "HTTP/1.0",
			script: []chunk{
				cl(withBody("POST /form HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n", "a=1&b=2")),
				sv("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"),
			},
			want: []string{`> POST /form http/1.0 body="a=1&b=2"`, `< 200 http/1.0 body="ok"`},
		},
		{
			name: "gzip deflate and br both directions",
			script: []chunk{
				cl(withBody("POST /gz HTTP/1.1\r\nContent-Encoding: gzip\r\n", gzipped(jsonB))),
				sv(withBody("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n", gzipped("gz-resp"))),
				cl(withBody("POST /zl HTTP/1.1\r\nContent-Encoding: deflate\r\n", zlibbed("zlib-req"))),
				sv(withBody("HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n", deflated("raw-deflate-resp"))),
				cl(withBody("POST /br HTTP/1.1\r\nContent-Encoding: br\r\n", brotlied("br-req"))),
				sv(withBody("HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n", brotlied("br-resp"))),
				cl("GET /chain HTTP/1.1\r\n\r\n"),
				sv("HTTP/1.1 200 OK\r\nContent-Encoding: gzip, br\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(brotlied(gzipped("chained")), 7)),
			},
			want: []string{
				`> POST /gz body="{\"id\":1,\"name\":\"podtap\"}"`, `< 200 body="gz-resp"`,
				`> POST /zl body="zlib-req"`, `< 200 body="raw-deflate-resp"`,
				`> POST /br body="br-req"`, `< 200 body="br-resp"`,
				`> GET /chain`, `< 200 body="chained"`,
			},
		},
		{
			name: "transfer coding gzip on a close-delimited response",
			script: []chunk{
				cl("GET / HTTP/1.1\r\n\r\n"),
				sv("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n" + gzipped("tc")),
			},
			want: []string{`> GET /`, `< 200 body="tc"`},
		},
		{
			name: "corrupt and unsupported codings are flagged, not kept",
			script: []chunk{
				cl("GET /1 HTTP/1.1\r\n\r\n"), sv(withBody("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n", "not gzip")),
				cl("GET /2 HTTP/1.1\r\n\r\n"), sv(withBody("HTTP/1.1 200 OK\r\nContent-Encoding: compress\r\n", "lzw")),
			},
			want: []string{
				`> GET /1`, `< 200 size=8 flags=content_decode_error`,
				`> GET /2`, `< 200 size=3 flags=unsupported_content_encoding`,
			},
		},
		{
			name: "judge skips bodies of dropped pairs",
			opts: Options{Judge: judge{}},
			script: []chunk{
				cl(withBody("POST /metrics HTTP/1.1\r\n", big)), sv(withBody("HTTP/1.1 200 OK\r\n", big)),
				cl("GET /missing HTTP/1.1\r\n\r\n"), sv("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(big, 30)),
				cl("GET /kept HTTP/1.1\r\n\r\n"), sv(get200),
			},
			want: []string{
				`> POST /metrics size=100 drop=path`, `< 200 size=100`,
				`> GET /missing`, `< 404 size=100 drop=status`,
				`> GET /kept`, `< 200 body="ok"`,
			},
		},
		{
			name: "too large while streaming",
			opts: Options{MaxBodyBytes: 10},
			script: []chunk{
				cl("POST /big HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), cl("6\r\n123456\r\n"), cl("6\r\n789012\r\n0\r\n\r\n"),
				sv(withBody("HTTP/1.1 200 OK\r\n", big)),
				cl("GET /gz HTTP/1.1\r\n\r\n"),
				sv(withBody("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n", gzipped(big))),
				cl("GET /small HTTP/1.1\r\n\r\n"), sv(withBody("HTTP/1.1 200 OK\r\n", "0123456789")),
			},
			want: []string{
				`> POST /big size=12 drop=too_large truncated`, `< 200 size=100`,
				`> GET /gz`, `< 200 size=` + fmt.Sprint(len(gzipped(big))) + ` drop=too_large truncated`,
				`> GET /small`, `< 200 body="0123456789"`,
			},
		},
		{
			name: "gaps inside bodies stay in sync",
			script: []chunk{
				cl("POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n12"), cgap(5), cl("890"),
				sv("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nab"), sgap(4), sv("gh\r\n0\r\n\r\n"),
				cl("GET /b HTTP/1.1\r\n\r\n"), sv(get200),
			},
			want: []string{`> POST /a size=10 drop=gap`, `< 200 size=8 drop=gap`, `> GET /b`, `< 200 body="ok"`},
		},
		{
			name: "gap between messages resyncs",
			script: []chunk{
				cl("GET /a HTTP/1.1\r\n\r\n"), sv(get200),
				cgap(40), sgap(300),
				cl("GET /c HTTP/1.1\r\n\r\n"), sv("tail of a lost body\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc"),
			},
			want: []string{`> GET /a`, `< 200 body="ok"`, `> GET /c flags=after_gap`, `< 200 aftergap body="c" flags=after_gap`},
		},
		{
			name: "gap past the end of a body resyncs",
			script: []chunk{
				cl("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
				sv("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"), sgap(100), sv("ET / HTTP/1.1 junk\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
			},
			want: []string{`> GET /a`, `> GET /b`, `< 200 size=10 drop=gap`, `< 201 aftergap flags=after_gap`},
		},
		{
			name: "unknown gap inside a body",
			script: []chunk{
				cl("GET /a HTTP/1.1\r\n\r\n"),
				sv("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"), sgap(-1),
				cl("GET /b HTTP/1.1\r\n\r\n"), sv("67890" + get200),
			},
			want: []string{`> GET /a`, `< 200 size=5 drop=gap`, `> GET /b`, `< 200 aftergap body="ok" flags=after_gap`},
		},
		{
			name: "a cut request line after a gap is not believed",
			script: []chunk{
				cl("GET /a HTTP/1.1\r\n\r\n"), sv(get200),
				cgap(3), cl("T /lost HTTP/1.1\r\nHost: h\r\n\r\nGET /found HTTP/1.1\r\n\r\n"), sv(get200 + get200),
			},
			want: []string{`> GET /a`, `< 200 body="ok"`, `> GET /found flags=after_gap`, `< 200 body="ok"`, `< 200 body="ok"`},
		},
		{
			name: "gap inside a header block hands on a placeholder",
			script: []chunk{
				cl("GET /a HTTP/1.1\r\nHost: "), cgap(10), cl("x\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
				sv(get200), sv(get200),
			},
			want: []string{`>   drop=gap`, `> GET /b flags=after_gap`, `< 200 size=2`, `< 200 body="ok"`},
		},
		{
			name: "response without request",
			script: []chunk{
				sv(get200),
				cl("GET /x HTTP/1.1\r\n\r\n"), sv(get200),
			},
			want: []string{`< 200 body="ok"`, `> GET /x`, `< 200 body="ok"`},
		},
		{
			name: "close mid-body",
			script: []chunk{
				cl("POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n123"),
				sv("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab"),
			},
			want: []string{`> POST /a size=3 drop=gap`, `< 200 size=2 drop=gap`},
		},
		{
			name: "malformed framing",
			script: []chunk{
				cl("POST /a HTTP/1.1\r\nContent-Length: 12x\r\n\r\nxx"), sv("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
				cl("GET /b HTTP/1.1\r\n\r\n"), sv(get200),
				cl("POST /c HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), sv("HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n\r\n"),
				cl("GET /d HTTP/1.1\r\n\r\n"), sv("HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok"),
				cl("GET /e HTTP/1.1\r\n\r\n"), sv("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok"),
			},
			want: []string{
				`> POST /a drop=parse_error`, `< 400`,
				`> GET /b flags=after_parse_error`, `< 200 body="ok"`,
				`> POST /c drop=parse_error`, `< 501`,
				`> GET /d flags=after_parse_error`, `< 200 drop=parse_error`,
				`> GET /e`, `< 200 body="ok" flags=after_parse_error`,
			},
		},
		{
			name: "bad chunk size",
			script: []chunk{
				cl("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\nmore\r\n0\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
				sv(get200 + get200),
			},
			want: []string{`> POST /a size=3 drop=parse_error`, `> GET /b flags=after_parse_error`, `< 200 size=2`, `< 200 body="ok"`},
		},
		{
			name: "chunk without its CRLF",
			script: []chunk{
				cl("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
				sv(get200 + get200),
			},
			want: []string{`> POST /a size=3 drop=parse_error`, `> GET /b flags=after_parse_error`, `< 200 size=2`, `< 200 body="ok"`},
		},
		{
			name: "garbage from the server",
			script: []chunk{
				cl("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
				sv("<html>no status line</html>\r\n" + get200),
			},
			want: []string{`> GET /a`, `> GET /b`, `< 0 drop=parse_error`, `< 200 body="ok" flags=after_parse_error`},
		},
		{
			name: "header block too large",
			opts: Options{MaxHeaderBytes: 64},
			script: []chunk{
				cl("GET /a HTTP/1.1\r\nX-Big: " + strings.Repeat("b", 100) + "\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
				sv("HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n" + get200),
			},
			want: []string{`>   drop=parse_error`, `> GET /b flags=after_parse_error`, `< 431`, `< 200 body="ok"`},
		},
		{
			name: "header block too large across calls",
			opts: Options{MaxHeaderBytes: 64},
			script: []chunk{
				cl("GET /a HTTP/1.1\r\nX-Big: "), cl(strings.Repeat("b", 40)), cl(strings.Repeat("b", 40)), cl("\r\nX-More: 1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
				sv("HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n" + get200),
			},
			want: []string{`>   drop=parse_error`, `> GET /b flags=after_parse_error`, `< 431`, `< 200 body="ok"`},
		},
		{
			name: "odd but accepted header lines",
			script: []chunk{
				cl("GET /a HTTP/1.1\r\nX-Folded: one\r\n  two\r\nno colon here\r\nX-Sp : v\r\n\r\n"), sv(get200),
			},
			want: []string{`> GET /a flags=malformed_header`, `< 200 body="ok"`},
		},
		{
			name: "empty lines between messages",
			script: []chunk{
				cl(withBody("POST /a HTTP/1.1\r\n", "x") + "\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
				sv(get200 + "\r\n" + get200),
			},
			want: []string{`> POST /a body="x"`, `> GET /b`, `< 200 body="ok"`, `< 200 body="ok"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, c := run(t, tt.opts, tt.script, nil)
			checkHalves(t, rec.events, tt.want)
			if proto, _ := c.Switched(); proto != tt.proto {
				t.Fatalf("Switched = %q, want %q", proto, tt.proto)
			}
		})
	}
}
