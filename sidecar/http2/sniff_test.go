package http2

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestSniff(t *testing.T) {
	w := newWire(t)
	w.headers(true, 1, false, reqFields("POST", "/x", "content-type", "application/json")...)
	w.data(true, 1, true, []byte(`{"k":"some json body that is long enough"}`))
	w.headers(true, 3, true, reqFields("GET", "/y")...)
	client := bytesOf(w.segs, true)
	frames := client[len(preface):]
	random := make([]byte, sniffLimit)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(random)
	random[0] = 0x01 // not text

	cases := []struct {
		name string
		b    []byte
		want Verdict
	}{
		{"empty", nil, NeedMore},
		{"preface prefix", []byte("PRI * HTTP/2"), NeedMore},
		{"preface", client, Preface},
		{"frames", frames, Frames},
		{"frames from the middle of a frame", frames[13:], Frames},
		{"one frame arriving", frames[:20], NeedMore},
		{"http1 request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), NotHTTP2},
		{"http1 response", []byte("HTTP/1.1 200 OK\r\n\r\n"), NotHTTP2},
		{"tls client hello", append([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}, make([]byte, 40)...), NotHTTP2},
		{"random bytes", random[:4096], NeedMore},
		{"random bytes, enough to be sure", random, NotHTTP2},
	}
	for _, tc := range cases {
		if got := Sniff(tc.b); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSniffClient(t *testing.T) {
	w := newWire(t)
	w.headers(true, 1, false, reqFields("POST", "/x", "content-type", "application/json")...)
	w.data(true, 1, true, []byte(`{"k":1}`))
	w.headers(false, 1, false, ":status", "200")
	w.data(false, 1, true, []byte("{}"))
	w.headers(true, 3, true, reqFields("GET", "/y")...)
	w.headers(false, 3, false, ":status", "418")
	w.headersSplit(true, 5, true, 4, reqFields("PATCH", "/z")...)
	client, server := bytesOf(w.segs, true), bytesOf(w.segs, false)
	settings := len(preface) + 9 + 6 + 9 // preface, SETTINGS, SETTINGS ack
	for _, tc := range []struct {
		name       string
		b          []byte
		client, ok bool
	}{
		{"preface", client, true, true},
		{"client frames", client[settings:], true, true},
		{"client mid-frame", client[settings+5:], true, true},
		{"server frames", server, false, true},
		{"server after its first response", server[bytes.Index(server, []byte{0x88})+1:], false, true},
		{"nothing", nil, false, false},
		{"settings only", server[:15], false, false},
	} {
		client, ok := SniffClient(tc.b)
		if client != tc.client || ok != tc.ok {
			t.Errorf("%s: client %v ok %v, want %v %v", tc.name, client, ok, tc.client, tc.ok)
		}
	}
}
