package http1

import (
	"strings"
	"testing"
	"time"

	"github.com/podtap/podtap/sidecar/message"
)

// discard counts halves and drops them, as a pair stage that keeps up.
type discard struct{ reqs, resps int }

func (d *discard) Request(*message.Request)   { d.reqs++ }
func (d *discard) Response(*message.Response) { d.resps++ }

// keepAliveJSON is a typical service call: a JSON POST and its JSON answer,
// headers as real clients and servers send them.
func keepAliveJSON() (req, resp []byte) {
	reqBody := `{"order_id":"8f14e45f-ceea-467f-a8a6-3b8e0f7a2c11","items":[{"sku":"A-1001","qty":2},{"sku":"B-2002","qty":1}],"currency":"EUR"}`
	respBody := `{"status":"accepted","order_id":"8f14e45f-ceea-467f-a8a6-3b8e0f7a2c11","total":{"amount":"42.50","currency":"EUR"},"eta_seconds":3600,"warehouse":"fra-2"}`
	req = []byte(withBody("POST /api/v1/orders?dry_run=false HTTP/1.1\r\n"+
		"Host: orders.shop.svc.cluster.local:8080\r\n"+
		"User-Agent: Go-http-client/1.1\r\n"+
		"Accept: application/json\r\n"+
		"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig\r\n"+
		"Content-Type: application/json\r\n"+
		"X-Request-Id: 7d1b2c3a-9f8e-4d6c-b5a4-3e2f1d0c9b8a\r\n"+
		"Accept-Encoding: gzip\r\n", reqBody))
	resp = []byte(withBody("HTTP/1.1 200 OK\r\n"+
		"Content-Type: application/json; charset=utf-8\r\n"+
		"Date: Mon, 23 Nov 2026 15:44:00 GMT\r\n"+
		"Vary: Accept-Encoding\r\n"+
		"X-Request-Id: 7d1b2c3a-9f8e-4d6c-b5a4-3e2f1d0c9b8a\r\n", respBody))
	return req, resp
}

func benchPairs(b *testing.B, req, resp []byte, opts Options) {
	b.Helper()
	d := &discard{}
	c := NewParser(&opts, d)
	ts := time.Unix(1700000000, 0)
	b.SetBytes(int64(len(req) + len(resp)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		c.Feed(true, req, ts)
		c.Feed(false, resp, ts)
	}
	b.ReportMetric(float64(d.resps)/time.Since(start).Seconds(), "pairs/s")
	if d.reqs != d.resps || d.resps == 0 {
		b.Fatalf("%d requests, %d responses", d.reqs, d.resps)
	}
}

// BenchmarkParser parses keep-alive JSON traffic, one request and one
// response per iteration, each arriving as one segment.
func BenchmarkParser(b *testing.B) {
	req, resp := keepAliveJSON()
	benchPairs(b, req, resp, Options{Judge: message.KeepAll{}})
}

// BenchmarkParserSegmented cuts every message into 100-byte segments, so that
// header blocks span Feed calls.
func BenchmarkParserSegmented(b *testing.B) {
	req, resp := keepAliveJSON()
	d := &discard{}
	c := NewParser(&Options{}, d)
	ts := time.Unix(1700000000, 0)
	b.SetBytes(int64(len(req) + len(resp)))
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		for _, m := range [][]byte{req, resp} {
			for p := m; len(p) > 0; {
				n := min(len(p), 100)
				c.Feed(&m[0] == &req[0], p[:n], ts)
				p = p[n:]
			}
		}
	}
	b.ReportMetric(float64(d.resps)/time.Since(start).Seconds(), "pairs/s")
}

// BenchmarkParserChunkedGzip parses chunked, gzip-encoded JSON responses.
func BenchmarkParserChunkedGzip(b *testing.B) {
	req, _ := keepAliveJSON()
	body := `{"items":[` + strings.Repeat(`{"id":12345,"name":"widget","price":"9.99"},`, 40) + `{}]}`
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(gzipped(body), 256))
	benchPairs(b, req, resp, Options{})
}
