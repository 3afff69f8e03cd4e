package tlshello

import (
	"os"
	"slices"
	"testing"
)

// FuzzFeed checks that any input, cut anywhere, gives the same answer as
// fed whole, without a panic, and that a bound holds.
func FuzzFeed(f *testing.F) {
	for _, name := range []string{"curl-h2.bin", "curl-http1.bin", "openssl-alpn.bin", "openssl-nosni-tls12.bin"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(7))
	}
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), uint16(3))
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		whole := New(512)
		whole.Feed(in)
		split := New(512)
		at := int(cut) % (len(in) + 1)
		split.Feed(in[:at])
		split.Feed(in[at:])
		if whole.Status() != split.Status() || whole.Hello().SNI != split.Hello().SNI ||
			!slices.Equal(whole.Hello().ALPN, split.Hello().ALPN) {
			t.Fatalf("whole %v %+v, cut at %d %v %+v", whole.Status(), whole.Hello(), at, split.Status(), split.Hello())
		}
		if cap(split.msg) > 2*(512+handshakeHeader) {
			t.Fatalf("kept %d bytes over a bound of 512", cap(split.msg))
		}
		if len(whole.Hello().ALPN) > maxALPNProtocols {
			t.Fatalf("%d ALPN ids kept", len(whole.Hello().ALPN))
		}
	})
}
