package http1

import (
	"testing"
)

// step is one Feed in a switch test, with the byte count Feed must return.
type step struct {
	client bool
	data   string
	want   int // -1: all of data
}

func runSteps(t *testing.T, steps []step) (*recorder, *Parser) {
	t.Helper()
	rec := &recorder{}
	c := NewParser(&Options{}, rec)
	for i, st := range steps {
		want := st.want
		if want < 0 {
			want = len(st.data)
		}
		if got := c.Feed(st.client, []byte(st.data), tsOf(i)); got != want {
			t.Fatalf("step %d: Feed returned %d, want %d (data %q)", i, got, want, st.data)
		}
	}
	return rec, c
}

const (
	wsRequest = "GET /chat HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	ws101     = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	h2cReq    = "GET /h2 HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
	h2c101    = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
	preface   = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	settings  = "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
	wsFrame   = "\x81\x05hello"
)

func TestSwitchWebSocket(t *testing.T) {
	rec, c := runSteps(t, []step{
		{true, "GET /a HTTP/1.1\r\n\r\n", -1},
		{false, get200, -1},
		{true, wsRequest, -1},
		{false, ws101 + wsFrame, len(ws101)},
		{true, wsFrame, 0},
		{false, wsFrame, 0},
	})
	checkHalves(t, rec.events, []string{`> GET /a`, `< 200 body="ok"`, `> GET /chat`, `< 101`})
	if proto, req := c.Switched(); proto != "other" || req != nil {
		t.Fatalf("Switched = %q, %v; want other, nil", proto, req)
	}
	c.Close(tsOf(9))
	if len(rec.events) != 4 {
		t.Fatalf("Close handed on more halves: %s", describe(rec.events))
	}
}

// A client may send frames before the capture delivers the 101: they are
// held until the answer, and dropped once it says the protocol changed.
func TestSwitchWebSocketClientFirst(t *testing.T) {
	rec, c := runSteps(t, []step{
		{true, wsRequest + wsFrame, -1},
		{true, wsFrame, -1},
		{false, ws101 + wsFrame, len(ws101)},
		{true, wsFrame, 0},
	})
	checkHalves(t, rec.events, []string{`> GET /chat`, `< 101`})
	if proto, _ := c.Switched(); proto != "other" {
		t.Fatalf("Switched = %q, want other", proto)
	}
}

// Docker's API answers JSON POSTs, then attaches with "Upgrade: tcp".
func TestSwitchDockerTCP(t *testing.T) {
	const docker101 = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
	body := `{"AttachStdin":true}`
	rec, c := runSteps(t, []step{
		{true, withBody("POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n", body), -1},
		{false, withBody("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n", `{"Id":"abc"}`), -1},
		{true, "POST /v1.41/containers/abc/attach?stream=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", -1},
		{false, docker101 + "raw output", len(docker101)},
		{true, "raw input", 0},
	})
	checkHalves(t, rec.events, []string{
		`> POST /v1.41/containers/create body="{\"AttachStdin\":true}"`, `< 201 body="{\"Id\":\"abc\"}"`,
		`> POST /v1.41/containers/abc/attach?stream=1`, `< 101`,
	})
	if proto, _ := c.Switched(); proto != "other" {
		t.Fatalf("Switched = %q, want other", proto)
	}
}

func TestSwitchH2C(t *testing.T) {
	rec, c := runSteps(t, []step{
		{true, "GET /first HTTP/1.1\r\n\r\n", -1},
		{false, get200, -1},
		{true, h2cReq, -1},
		{false, h2c101 + settings, len(h2c101)},
		{true, preface + settings, 0},
		{false, settings, 0},
	})
	checkHalves(t, rec.events, []string{`> GET /first`, `< 200 body="ok"`})
	proto, req := c.Switched()
	if proto != "h2c" || req == nil || req.Path != "/h2" || req.Authority != "h" {
		t.Fatalf("Switched = %q, %+v; want h2c with the upgrade request", proto, req)
	}
	c.Close(tsOf(9))
	if len(rec.events) != 2 {
		t.Fatalf("the upgrade request or the 101 was handed on: %s", describe(rec.events))
	}
}

// The client's preface can be fed before the server's 101 when the capture
// orders the directions so: the switch happens at the preface, and the
// server direction still reads its 101.
func TestSwitchH2CPrefaceFirst(t *testing.T) {
	rec, c := runSteps(t, []step{
		{true, h2cReq, -1},
		{true, preface + settings, 0},
		{false, h2c101 + settings, len(h2c101)},
		{false, settings, 0},
	})
	if len(rec.events) != 0 {
		t.Fatalf("halves handed on: %s", describe(rec.events))
	}
	if proto, req := c.Switched(); proto != "h2c" || req == nil || req.Path != "/h2" {
		t.Fatalf("Switched = %q, %v; want h2c", proto, req)
	}
}

// A POST upgrade request carries a body: it belongs to stream 1.
func TestSwitchH2CWithBody(t *testing.T) {
	_, c := runSteps(t, []step{
		{true, withBody("POST /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n", "payload"), -1},
		{false, h2c101, -1},
		{true, preface, 0},
	})
	if proto, req := c.Switched(); proto != "h2c" || string(req.Body) != "payload" {
		t.Fatalf("Switched = %q, %v", proto, req)
	}
}

func TestSwitchH2CDeclined(t *testing.T) {
	rec, c := runSteps(t, []step{
		{true, h2cReq, -1},
		{true, "GET /next HTTP/1.1\r\n\r\n", -1},
		{false, get200, -1},
		{false, get200, -1},
	})
	checkHalves(t, rec.events, []string{`> GET /h2`, `> GET /next`, `< 200 body="ok"`, `< 200 body="ok"`})
	if proto, _ := c.Switched(); proto != "" {
		t.Fatalf("Switched = %q after a declined upgrade", proto)
	}
}

func TestSwitchPriorKnowledgePreface(t *testing.T) {
	t.Run("at start", func(t *testing.T) {
		_, c := runSteps(t, []step{{true, preface + settings, 0}, {false, settings, 0}})
		if proto, req := c.Switched(); proto != "h2" || req != nil {
			t.Fatalf("Switched = %q, %v", proto, req)
		}
	})
	t.Run("after HTTP/1 with an answer pending", func(t *testing.T) {
		rec, c := runSteps(t, []step{
			{true, "GET /a HTTP/1.1\r\n\r\n" + preface + settings, 19},
			{false, get200 + settings, len(get200)},
			{false, settings, 0},
		})
		checkHalves(t, rec.events, []string{`> GET /a`, `< 200 body="ok"`})
		if proto, _ := c.Switched(); proto != "h2" {
			t.Fatalf("Switched = %q, want h2", proto)
		}
	})
	t.Run("split byte by byte", func(t *testing.T) {
		rec := &recorder{}
		c := NewParser(&Options{}, rec)
		data := preface + settings
		for i := range len(preface) {
			if n := c.Feed(true, []byte{data[i]}, tsOf(i)); n != 1 {
				t.Fatalf("byte %d: Feed = %d, want 1", i, n)
			}
		}
		if proto, _ := c.Switched(); proto != "h2" {
			t.Fatalf("Switched = %q, want h2", proto)
		}
		if n := c.Feed(true, []byte(settings), tsOf(99)); n != 0 {
			t.Fatalf("Feed after the switch = %d, want 0", n)
		}
	})
	t.Run("not quite the preface", func(t *testing.T) {
		rec, c := runSteps(t, []step{
			{true, "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\nGET /b HTTP/1.1\r\n\r\n", -1},
			{false, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" + "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" + get200, -1},
		})
		checkHalves(t, rec.events, []string{`>   drop=parse_error`, `>   drop=parse_error`, `> GET /b`, `< 400`, `< 400`, `< 200 body="ok"`})
		if proto, _ := c.Switched(); proto != "" {
			t.Fatalf("Switched = %q", proto)
		}
	})
}

func TestSwitchConnect(t *testing.T) {
	hello := "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
	t.Run("tunnel", func(t *testing.T) {
		rec, c := runSteps(t, []step{
			{true, "CONNECT api.example:443 HTTP/1.1\r\nHost: api.example:443\r\n\r\n", -1},
			{true, hello, -1},
			{false, "HTTP/1.1 200 Connection established\r\n\r\n" + hello, 39},
			{true, hello, 0},
		})
		checkHalves(t, rec.events, []string{`> CONNECT `, `< 200`})
		if proto, _ := c.Switched(); proto != "tunnel" {
			t.Fatalf("Switched = %q, want tunnel", proto)
		}
		if r := rec.requests()[0]; r.Authority != "api.example:443" {
			t.Fatalf("CONNECT authority = %q", r.Authority)
		}
	})
	t.Run("refused", func(t *testing.T) {
		rec, c := runSteps(t, []step{
			{true, "CONNECT api.example:443 HTTP/1.1\r\n\r\n", -1},
			{true, "GET /after HTTP/1.1\r\n\r\n", -1},
			{false, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n", -1},
			{false, get200, -1},
		})
		// The held GET is read as soon as the 407's status shows the
		// tunnel was refused, before the 407 ends.
		checkHalves(t, rec.events, []string{`> CONNECT `, `> GET /after`, `< 407`, `< 200 body="ok"`})
		if proto, _ := c.Switched(); proto != "" {
			t.Fatalf("Switched = %q", proto)
		}
	})
}
