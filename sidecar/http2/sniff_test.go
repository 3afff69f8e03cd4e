package http2

import (
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
