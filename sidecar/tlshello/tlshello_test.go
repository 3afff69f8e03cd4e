package tlshello

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"slices"
	"testing"
	"time"
)

// goHello returns the first bytes Go's crypto/tls client sends with cfg.
func goHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	client, server := net.Pipe()
	defer server.Close()
	go func() {
		c := tls.Client(client, cfg)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_ = c.Handshake()
		c.Close()
	}()
	var out []byte
	buf := make([]byte, 4096)
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
	p := New(0)
	for p.Status() == NeedMore {
		n, err := server.Read(buf)
		if err != nil {
			t.Fatalf("reading Go's ClientHello: %v", err)
		}
		out = append(out, buf[:n]...)
		p.Feed(buf[:n])
	}
	return out
}

func file(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClientHellos(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Hello
	}{
		{"curl h2", file(t, "curl-h2.bin"), Hello{SNI: "shop.example.com", ALPN: []string{"h2", "http/1.1"}}},
		{"curl http1.1", file(t, "curl-http1.bin"), Hello{SNI: "api.internal", ALPN: []string{"http/1.1"}}},
		{"openssl s_client", file(t, "openssl-alpn.bin"), Hello{SNI: "payments.example.org", ALPN: []string{"h2", "http/1.1"}}},
		{"openssl no SNI, TLS 1.2", file(t, "openssl-nosni-tls12.bin"), Hello{}},
		{"go crypto/tls grpc", goHello(t, &tls.Config{ServerName: "Orders.Svc.Cluster.Local", NextProtos: []string{"h2"}}), Hello{SNI: "orders.svc.cluster.local", ALPN: []string{"h2"}}},
		{"go crypto/tls by IP", goHello(t, &tls.Config{ServerName: "10.0.0.7", InsecureSkipVerify: true}), Hello{}},
		{"go crypto/tls TLS 1.2 only", goHello(t, &tls.Config{ServerName: "legacy.example", MaxVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}), Hello{SNI: "legacy.example", ALPN: []string{"http/1.1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, then cut at every byte: the answer never depends on
			// how TCP segmented the hello.
			for cut := 0; cut < len(tt.in); cut++ {
				p := New(0)
				p.Feed(tt.in[:cut])
				if cut > 0 && p.Status() != NeedMore && cut < helloEnd(tt.in) {
					t.Fatalf("cut at %d: status %v (%v) before the hello ends at %d", cut, p.Status(), p.Err(), helloEnd(tt.in))
				}
				if p.Feed(tt.in[cut:]) != Done {
					t.Fatalf("cut at %d: status %v, err %v", cut, p.Status(), p.Err())
				}
				got := p.Hello()
				if got.SNI != tt.want.SNI || !slices.Equal(got.ALPN, tt.want.ALPN) {
					t.Fatalf("cut at %d: got %+v, want %+v", cut, got, tt.want)
				}
			}
		})
	}
}

// helloEnd is where the first record's handshake message ends.
func helloEnd(b []byte) int {
	return 5 + 4 + (int(b[6])<<16 | int(b[7])<<8 | int(b[8]))
}

// TestSplitRecords sends the hello fragmented over several records, as a
// TLS stack may when the hello is large.
func TestSplitRecords(t *testing.T) {
	in := file(t, "curl-h2.bin")
	msg := in[5:helloEnd(in)]
	var frag []byte
	for len(msg) > 0 {
		n := min(len(msg), 100)
		frag = append(frag, 22, 3, 1, byte(n>>8), byte(n))
		frag = append(frag, msg[:n]...)
		msg = msg[n:]
	}
	p := New(0)
	if p.Feed(frag) != Done || p.Hello().SNI != "shop.example.com" {
		t.Fatalf("status %v err %v hello %+v", p.Status(), p.Err(), p.Hello())
	}
}

func TestNotAHello(t *testing.T) {
	curl := file(t, "curl-h2.bin")
	truncatedExt := slices.Clone(curl[:helloEnd(curl)])
	// Claim a server_name list longer than its extension.
	sni := findExt(truncatedExt, extServerName)
	truncatedExt[sni+4], truncatedExt[sni+5] = 0xff, 0xff
	badName := slices.Clone(curl[:helloEnd(curl)])
	badName[findExt(badName, extServerName)+9] = '\n'
	huge := slices.Clone(curl[:9])
	huge[6], huge[7], huge[8] = 0x01, 0x00, 0x00

	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"HTTP/1 request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ErrNotTLS},
		{"HTTP/2 preface", []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), ErrNotTLS},
		{"application data record", []byte{23, 3, 3, 0, 10}, ErrNotTLS},
		{"SSL 2 framing", []byte{22, 2, 0, 0, 10}, ErrNotTLS},
		{"record over the TLS maximum", []byte{22, 3, 3, 0xff, 0xff}, ErrNotTLS},
		{"empty record", []byte{22, 3, 1, 0, 0}, ErrMalformed},
		{"ServerHello first", []byte{22, 3, 3, 0, 4, 2, 0, 0, 0}, ErrNotHello},
		{"hello over the bound", huge, ErrTooLarge},
		{"server_name past its extension", truncatedExt, ErrMalformed},
		{"server_name with a control byte", badName, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(0)
			if st := p.Feed(tt.in); st != Failed || !errors.Is(p.Err(), tt.want) {
				t.Fatalf("status %v err %v; want Failed with %v", st, p.Err(), tt.want)
			}
			if p.Feed(file(t, "curl-h2.bin")) != Failed {
				t.Fatal("a failed parser took more bytes")
			}
		})
	}
}

// TestNeedMore: a partial header that could still be TLS waits.
func TestNeedMore(t *testing.T) {
	for _, in := range [][]byte{{22}, {22, 3}, {22, 3, 3, 1}, {22, 3, 3, 1, 0, 1}} {
		if st := New(0).Feed(in); st != NeedMore {
			t.Errorf("%v: status %v, want NeedMore", in, st)
		}
	}
}

// findExt is the offset of extension typ in a whole hello record.
func findExt(rec []byte, typ int) int {
	i := 5 + 4 + 2 + 32
	i += 1 + int(rec[i])
	i += 2 + (int(rec[i])<<8 | int(rec[i+1]))
	i += 1 + int(rec[i])
	i += 2
	for i+4 <= len(rec) {
		t, n := int(rec[i])<<8|int(rec[i+1]), int(rec[i+2])<<8|int(rec[i+3])
		if t == typ {
			return i
		}
		i += 4 + n
	}
	panic("extension not found")
}

func TestSniff(t *testing.T) {
	curl := file(t, "curl-h2.bin")
	tests := []struct {
		in   []byte
		want Verdict
	}{
		{curl, Yes},
		{curl[:6], Yes},
		{curl[:3], Maybe},
		{nil, No},
		{[]byte("GET / HTTP/1.1\r\n"), No},
		{[]byte{22, 3, 3, 0, 4, 2}, No},
		{[]byte{23, 3, 3, 0, 4, 1}, No},
	}
	for _, tt := range tests {
		if got := Sniff(tt.in); got != tt.want {
			t.Errorf("Sniff(% x) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
