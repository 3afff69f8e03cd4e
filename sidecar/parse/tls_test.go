package parse

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/tlshello"
)

func hello(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../tlshello/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTLSConnection: a connection whose client starts a TLS handshake is
// counted as TLS with its ClientHello's SNI and ALPN, whatever the
// segmenting, and is neither parsed nor a parse error.
func TestTLSConnection(t *testing.T) {
	in := hello(t, "curl-h2.bin")
	for _, seg := range []int{1, 3, 100, len(in)} {
		s, pairs := newStream(t, true)
		server := "10.0.0.2:80"
		tlsBefore := testutil.ToFloat64(metrics.TLSConnections.WithLabelValues(server, "shop.example.com", "h2,http/1.1", metrics.TLSCaptureOff))
		connsBefore := testutil.ToFloat64(metrics.ConnectionsTotal.WithLabelValues("tls"))
		parseErrs := testutil.CollectAndCount(metrics.ParseErrors)
		for b := in; len(b) > 0; b = b[min(len(b), seg):] {
			s.Data(message.AtoB, b[:min(len(b), seg)], ts)
		}
		s.Data(message.BtoA, []byte("\x16\x03\x03\x00\x7a\x02"), ts)
		s.End(ts)
		if !s.Ignored() || len(*pairs) != 0 {
			t.Fatalf("segments of %d: ignored %v, %d pairs", seg, s.Ignored(), len(*pairs))
		}
		if d := testutil.ToFloat64(metrics.TLSConnections.WithLabelValues(server, "shop.example.com", "h2,http/1.1", metrics.TLSCaptureOff)) - tlsBefore; d != 1 {
			t.Fatalf("segments of %d: tls connections +%v, want +1", seg, d)
		}
		if d := testutil.ToFloat64(metrics.ConnectionsTotal.WithLabelValues("tls")) - connsBefore; d != 1 {
			t.Fatalf("segments of %d: connections{tls} +%v, want +1", seg, d)
		}
		if n := testutil.CollectAndCount(metrics.ParseErrors); n != parseErrs {
			t.Fatalf("segments of %d: parse errors counted", seg)
		}
	}
}

// TestTLSClientBySyntax: the client is the side of the ClientHello,
// not the SYN sender, and the server its peer.
func TestTLSClientBySyntax(t *testing.T) {
	s, _ := newStream(t, false)
	before := testutil.ToFloat64(metrics.TLSConnections.WithLabelValues("10.0.0.1:50000", "payments.example.org", "h2,http/1.1", metrics.TLSCaptureOff))
	s.Data(message.BtoA, hello(t, "openssl-alpn.bin"), ts)
	if !s.Ignored() {
		t.Fatal("not given up after the whole hello")
	}
	if d := testutil.ToFloat64(metrics.TLSConnections.WithLabelValues("10.0.0.1:50000", "payments.example.org", "h2,http/1.1", metrics.TLSCaptureOff)) - before; d != 1 {
		t.Fatalf("+%v, want +1", d)
	}
}

// TestTLSCutShort: a connection that ends, or loses bytes, before its
// ClientHello is whole still counts, without a name.
func TestTLSCutShort(t *testing.T) {
	in := hello(t, "curl-http1.bin")
	for name, cut := range map[string]func(*Stream){
		"end": func(s *Stream) { s.End(ts) },
		"gap": func(s *Stream) { s.Gap(message.AtoB, 100, ts) },
	} {
		s, _ := newStream(t, true)
		before := testutil.ToFloat64(metrics.TLSConnections.WithLabelValues("10.0.0.2:80", "", "", metrics.TLSCaptureOff))
		s.Data(message.AtoB, in[:200], ts)
		if s.Ignored() {
			t.Fatalf("%s: given up before the hello was whole", name)
		}
		cut(s)
		if d := testutil.ToFloat64(metrics.TLSConnections.WithLabelValues("10.0.0.2:80", "", "", metrics.TLSCaptureOff)) - before; d != 1 || !s.Ignored() {
			t.Fatalf("%s: +%v, ignored %v", name, d, s.Ignored())
		}
	}
}

// TestTLSSeenBoundAndLog: past maxTLSServers, connections count under
// "other"; the log line comes at the first and then once per reminder,
// naming the top servers.
func TestTLSSeenBoundAndLog(t *testing.T) {
	var logs bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := newTLSSeen(slog.New(slog.NewTextHandler(&logs, nil)), func() time.Time { return now }, message.NoTally{})
	other := func() float64 {
		return testutil.ToFloat64(metrics.TLSConnections.WithLabelValues(overflowLabel, overflowLabel, overflowLabel, metrics.TLSCaptureOff))
	}
	otherBefore := other()
	top := message.Endpoint{IP: epB.IP, Port: 443}
	for range 3 {
		seen.count(top, helloOf("api.example.com", "h2"), metrics.TLSCaptureOff)
	}
	for i := range maxTLSServers + 5 {
		seen.count(message.Endpoint{IP: epB.IP, Port: uint16(1000 + i)}, helloOf("", ""), metrics.TLSCaptureOff)
	}
	if d := other() - otherBefore; d != 6 {
		t.Fatalf("other +%v, want +6 (maxTLSServers-1 fit after the top one)", d)
	}
	if lines := strings.Count(logs.String(), "\n"); lines != 1 {
		t.Fatalf("%d lines before the reminder:\n%s", lines, logs.String())
	}
	now = now.Add(time.Minute)
	seen.count(top, helloOf("api.example.com", "h2"), metrics.TLSCaptureOff)
	out := logs.String()
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "10.0.0.2:443 sni=api.example.com alpn=h2 ×4") ||
		!strings.Contains(out, "past_bound=6") || !strings.Contains(out, "dropped.tls_not_read=72") || !strings.Contains(out, "reason=capture_off") {
		t.Fatalf("log:\n%s", out)
	}
}

func helloOf(sni, alpn string) tlshello.Hello {
	h := tlshello.Hello{SNI: sni}
	if alpn != "" {
		h.ALPN = []string{alpn}
	}
	return h
}

// TestTLSThroughConnect: TLS inside an HTTP CONNECT tunnel is counted with
// the proxy as its server and the SNI of the host behind it.
func TestTLSThroughConnect(t *testing.T) {
	s, _ := newStream(t, true)
	before := testutil.ToFloat64(metrics.TLSConnections.WithLabelValues("10.0.0.2:80", "shop.example.com", "h2,http/1.1", metrics.TLSCaptureOff))
	s.Data(message.AtoB, []byte("CONNECT shop.example.com:443 HTTP/1.1\r\nHost: shop.example.com:443\r\n\r\n"), ts)
	s.Data(message.BtoA, []byte("HTTP/1.1 200 Connection established\r\n\r\n"), ts)
	s.Data(message.AtoB, hello(t, "curl-h2.bin"), ts)
	if d := testutil.ToFloat64(metrics.TLSConnections.WithLabelValues("10.0.0.2:80", "shop.example.com", "h2,http/1.1", metrics.TLSCaptureOff)) - before; d != 1 || !s.Ignored() {
		t.Fatalf("+%v, ignored %v", d, s.Ignored())
	}
}

// TestTLSDeferredWhileCaptureRuns: with TLS capture running, a TLS
// connection is counted at its end, as not_probed, only when TLS capture
// did not read it; before its end it is not counted at all.
func TestTLSDeferredWhileCaptureRuns(t *testing.T) {
	in := hello(t, "curl-h2.bin")
	for _, read := range []bool{false, true} {
		s, _ := newStream(t, true)
		var asked message.Conn
		s.f.DeferTLS(func(c message.Conn) bool { asked = c; return read })
		server := "10.0.0.2:80"
		count := func(reason string) float64 {
			return testutil.ToFloat64(metrics.TLSConnections.WithLabelValues(server, "shop.example.com", "h2,http/1.1", reason))
		}
		offBefore, notBefore := count(metrics.TLSCaptureOff), count(metrics.TLSNotProbed)
		s.Data(message.AtoB, in, ts)
		if d := count(metrics.TLSNotProbed) - notBefore; d != 0 {
			t.Fatalf("read %v: counted +%v before the end", read, d)
		}
		s.End(ts)
		want := 1.0
		if read {
			want = 0
		}
		if d := count(metrics.TLSNotProbed) - notBefore; d != want {
			t.Errorf("read %v: not_probed +%v, want +%v", read, d, want)
		}
		if d := count(metrics.TLSCaptureOff) - offBefore; d != 0 {
			t.Errorf("read %v: capture_off +%v while TLS capture runs", read, d)
		}
		if asked != s.conn {
			t.Errorf("read %v: asked about %+v, want %+v", read, asked, s.conn)
		}
	}
}
