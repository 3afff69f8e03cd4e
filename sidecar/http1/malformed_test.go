package http1

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

// methodsLines are the request lines of the corpus capture methods.pcap
// (Zeek's test traces), one connection each, LF line endings as captured.
// garbage marks the 22 that no server-side parser accepts as requests;
// the others are malformed too, but servers answer them (and tshark pairs
// them), so they are kept and flagged.
var methodsLines = []struct {
	line, method, path string
	garbage            bool
}{
	{"OPTIONS * HTTP/1.1", "OPTIONS", "*", false},
	{"OPTIONS HTTP/1.1", "OPTIONS", "HTTP/1.1", false},
	{"OPTIONSHTTP/1.1", "", "", true},
	{"OPTIONS", "OPTIONS", "", false},
	{"GET / HTTP/1.1", "GET", "/", false},
	{"GET / HTTP/1.", "GET", "/", false},
	{"GET /HTTP/1.1", "GET", "/HTTP/1.1", false},
	{"GET/ HTTP/1.1", "", "", true},
	{"GET/HTTP/1.1", "", "", true},
	{"GET / HTTP/1.1", "GET", "/", false},
	{"ÃÂÃ / HTTP/1.", "", "", true},
	{"ÃÂÃ /HTTP/1.1", "", "", true},
	{"ÃÂÃ/ HTTP/1.1", "", "", true},
	{"ÃÂÃ/HTTP/1.1", "", "", true},
	{"ÃÂÃ/ HTTP/1.1", "", "", true},
	{"CCM_POST / HTTP/1.", "CCM_POST", "/", false},
	{"CCM_POST /HTTP/1.1", "CCM_POST", "/HTTP/1.1", false},
	{"CCM_POST/ HTTP/1.1", "", "", true},
	{"CCM_POST/HTTP/1.1", "", "", true},
	{"CCM_POST / HTTP/1.1", "CCM_POST", "/", false},
	{"CONNECT / HTTP/1.", "CONNECT", "/", false},
	{"CONNECT /HTTP/1.1", "CONNECT", "/HTTP/1.1", false},
	{"CONNECT/ HTTP/1.1", "", "", true},
	{"CONNECT/HTTP/1.1", "", "", true},
	{"CONNECT / HTTP/1.1", "CONNECT", "/", false},
	{"TRACE / HTTP/1.", "TRACE", "/", false},
	{"TRACE /HTTP/1.1", "TRACE", "/HTTP/1.1", false},
	{"TRACE/ HTTP/1.1", "", "", true},
	{"TRACE/HTTP/1.1", "", "", true},
	{"TRACE / HTTP/1.1", "TRACE", "/", false},
	{"DELETE / HTTP/1.", "DELETE", "/", false},
	{"DELETE /HTTP/1.1", "DELETE", "/HTTP/1.1", false},
	{"DELETE/ HTTP/1.1", "", "", true},
	{"DELETE/HTTP/1.1", "", "", true},
	{"DELETE / HTTP/1.1", "DELETE", "/", false},
	{"PUT / HTTP/1.", "PUT", "/", false},
	{"PUT /HTTP/1.1", "PUT", "/HTTP/1.1", false},
	{"PUT/ HTTP/1.1", "", "", true},
	{"PUT/HTTP/1.1", "", "", true},
	{"PUT / HTTP/1.1", "PUT", "/", false},
	{"POST / HTTP/1.", "POST", "/", false},
	{"POST /HTTP/1.1", "POST", "/HTTP/1.1", false},
	{"POST/ HTTP/1.1", "", "", true},
	{"POST/HTTP/1.1", "", "", true},
	{"HEAD / HTTP/1.1", "HEAD", "/", false},
	{"HEAD / HTTP/1.", "HEAD", "/", false},
	{"HEAD /HTTP/1.1", "HEAD", "/HTTP/1.1", false},
	{"HEAD/ HTTP/1.1", "", "", true},
	{"HEAD/HTTP/1.1", "", "", true},
}

func TestMethodsCapture(t *testing.T) {
	before := testutil.ToFloat64(metrics.ParseErrors.WithLabelValues("http1", kindRequestLine))
	garbage := 0
	for _, l := range methodsLines {
		resp := "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 3\r\n\r\nno!"
		if l.method == "HEAD" {
			resp = "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 3\r\n\r\n"
		}
		if l.garbage {
			garbage++
			resp = "HTTP/1.0 400 Bad Request\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Length: 3\r\n\r\nbad"
		}
		rec, _ := run(t, Options{}, []chunk{cl(l.line + "\nHost: www.google.com\n\n"), sv(resp)}, nil)
		reqs, resps := rec.requests(), rec.responses()
		if len(reqs) != 1 || len(resps) != 1 {
			t.Fatalf("%q: got %d requests and %d responses, want one of each:\n%s", l.line, len(reqs), len(resps), describe(rec.events))
		}
		r := reqs[0]
		if l.garbage {
			if r.Drop != metrics.ReasonParseError || r.Method != "" {
				t.Errorf("%q: garbage request line accepted: %s", l.line, summary(r))
			}
			continue
		}
		if r.Drop != "" || r.Method != l.method || r.Path != l.path || r.Authority != "www.google.com" {
			t.Errorf("%q: got %s authority %q, want %s %s", l.line, summary(r), r.Authority, l.method, l.path)
		}
		if strings.Count(l.line, " ") != 2 || !strings.HasSuffix(l.line, "HTTP/1.1") {
			if len(r.Flags) != 1 || r.Flags[0] != message.FlagNonstandardRequestLine {
				t.Errorf("%q: flags %v, want %s", l.line, r.Flags, message.FlagNonstandardRequestLine)
			}
		}
		if resps[0].Status != 405 {
			t.Errorf("%q: response %s", l.line, summary(resps[0]))
		}
	}
	if garbage != 22 {
		t.Fatalf("table has %d garbage lines, the capture has 22", garbage)
	}
	if got := testutil.ToFloat64(metrics.ParseErrors.WithLabelValues("http1", kindRequestLine)) - before; got != 22 {
		t.Fatalf("counted %v request_line parse errors, want 22", got)
	}
}

// Garbage on a keep-alive connection resyncs at the next request line and
// keeps pairing aligned: each garbage request the server answers gets a
// placeholder.
func TestGarbageResyncKeepAlive(t *testing.T) {
	bad := "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
	rec, _ := run(t, Options{}, []chunk{
		cl("GET /1 HTTP/1.1\r\n\r\n"),
		cl("GET/ HTTP/1.1\r\nHost: x\r\n\r\n"),
		cl("\x16\x03\x01 binary\x00\xff\r\n\r\n"),
		cl("GET /2 HTTP/1.1\r\n\r\n"),
		sv(get200 + bad + bad + get200),
	}, nil)
	checkHalves(t, rec.events, []string{
		`> GET /1`, `>   drop=parse_error`, `>   drop=parse_error`, `> GET /2 flags=after_parse_error`,
		`< 200 body="ok"`, `< 400`, `< 400`, `< 200 body="ok"`,
	})
}

// Hostile input without line ends must not grow memory: the header buffer
// and the resync line buffer are capped whatever the input's length.
func TestBoundedMemoryWithoutNewlines(t *testing.T) {
	const total = 100 << 20
	piece := bytes.Repeat([]byte("x"), 64<<10)
	rec := &recorder{}
	c := NewParser(&Options{MaxHeaderBytes: 64 << 10}, rec)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	for fed := 0; fed < total; fed += len(piece) {
		ts := tsOf(fed / len(piece))
		c.Feed(true, piece, ts)
		c.Feed(false, piece, ts)
		if n := lineBufCap(c); n > 256<<10 {
			t.Fatalf("after %d bytes a line buffer holds %d bytes", fed, n)
		}
	}
	runtime.ReadMemStats(&ms1)
	if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > 16<<20 {
		t.Fatalf("parsing %d MiB of garbage allocated %d MiB", total>>20, alloc>>20)
	}
	c.Close(tsOf(1 << 20))
	// One placeholder each: the client's block overflowed, the server's
	// first byte could not start a status line. Both began at the same
	// capture time, so the response is taken as the request's answer.
	checkHalves(t, rec.events, []string{`>   drop=parse_error`, `< 0 drop=parse_error`})
}

// A start line after megabytes of garbage without line ends is still found.
func TestResyncAfterLongGarbage(t *testing.T) {
	junk := strings.Repeat("\x00\x01binary", 200<<10)
	rec, _ := run(t, Options{}, []chunk{
		cl("GET /a HTTP/1.1\r\n\r\n"),
		sv("HTTP/1.1 200 OK\r\nContent-Length: 500000\r\n\r\n" + junk[:1000]), sgap(-1), sv(junk), sv(junk + get200),
	}, nil)
	checkHalves(t, rec.events, []string{`> GET /a`, `< 200 size=1000 drop=gap`, `< 200 aftergap body="ok" flags=after_gap`})
}
