package http1

import (
	"reflect"
	"testing"
	"time"

	"github.com/podtap/podtap/sidecar/message"
)

func TestRequestFields(t *testing.T) {
	rec := &recorder{}
	c := NewParser(&Options{}, rec)
	t0, t1, t2 := tsOf(0), tsOf(1), tsOf(2)
	c.Feed(true, []byte("POST /api/v1/items?limit=10&x=%20 HTTP/1.1\r\nHost: api.example:8080\r\nUser-Agent: curl/8\r\nContent-Type: Application/JSON; charset=utf-8\r\nX-Dup: 1\r\nx-dup: 2\r\nContent-Length: 7\r\n\r\n{\"a\""), t0)
	c.Feed(true, []byte(":1"), t1)
	c.Feed(true, []byte("}"), t2)
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests", len(reqs))
	}
	r := reqs[0]
	want := &message.Request{
		Proto:     message.ProtoHTTP11,
		Method:    "POST",
		Path:      "/api/v1/items",
		Query:     "limit=10&x=%20",
		Authority: "api.example:8080",
		Headers: message.Headers{
			{Name: "host", Value: "api.example:8080"},
			{Name: "user-agent", Value: "curl/8"},
			{Name: "content-type", Value: "Application/JSON; charset=utf-8"},
			{Name: "x-dup", Value: "1"},
			{Name: "x-dup", Value: "2"},
			{Name: "content-length", Value: "7"},
		},
		ContentType: "Application/JSON; charset=utf-8",
		Body:        []byte(`{"a":1}`),
		BodySize:    7,
		Start:       t0,
		End:         t2,
	}
	if r.ReleaseBody == nil || string(r.Lent) != string(r.Body) {
		t.Fatalf("a pooled body is not lent: Lent %q, ReleaseBody set %v", r.Lent, r.ReleaseBody != nil)
	}
	// Funcs do not compare: ReleaseBody and Lent are checked above.
	r.ReleaseBody, r.Lent = nil, nil
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("request\n got %+v\nwant %+v", r, want)
	}
}

func TestResponseFields(t *testing.T) {
	rec := &recorder{}
	c := NewParser(&Options{}, rec)
	t0, t1, t2, t3 := tsOf(0), tsOf(1), tsOf(2), tsOf(3)
	c.Feed(true, []byte("GET / HTTP/1.1\r\n\r\n"), t0)
	c.Feed(false, []byte("HTTP/1.1 100 Continue\r\n\r\n"), t1)
	c.Feed(false, []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n"), t2)
	c.Feed(false, []byte("0\r\nGrpc-Status: 0\r\n\r\n"), t3)
	resps := rec.responses()
	if len(resps) != 1 {
		t.Fatalf("got %d responses", len(resps))
	}
	want := &message.Response{
		Proto:       message.ProtoHTTP11,
		Status:      200,
		Headers:     message.Headers{{Name: "content-type", Value: "application/json"}, {Name: "transfer-encoding", Value: "chunked"}},
		Trailers:    message.Headers{{Name: "grpc-status", Value: "0"}},
		ContentType: "application/json",
		Body:        []byte("{}"),
		BodySize:    2,
		Start:       t1,
		End:         t3,
		Interim:     []int{100},
	}
	if resps[0].ReleaseBody == nil || string(resps[0].Lent) != string(resps[0].Body) {
		t.Fatalf("a pooled body is not lent: Lent %q, ReleaseBody set %v", resps[0].Lent, resps[0].ReleaseBody != nil)
	}
	resps[0].ReleaseBody, resps[0].Lent = nil, nil
	if !reflect.DeepEqual(resps[0], want) {
		t.Fatalf("response\n got %+v\nwant %+v", resps[0], want)
	}
}

func TestTargets(t *testing.T) {
	tests := []struct {
		line, host                   string
		path, query, authority, flag string
	}{
		{"GET /a/b?c=d HTTP/1.1", "h", "/a/b", "c=d", "h", ""},
		{"GET /? HTTP/1.1", "h", "/", "", "h", ""},
		{"GET http://proxy.example:3128/x?y HTTP/1.1", "ignored", "/x", "y", "proxy.example:3128", ""},
		{"GET http://proxy.example HTTP/1.1", "", "/", "", "proxy.example", ""},
		{"GET https://a.example?q=1 HTTP/1.1", "", "/", "q=1", "a.example", ""},
		{"OPTIONS * HTTP/1.1", "h", "*", "", "h", ""},
		{"CONNECT db.internal:5432 HTTP/1.1", "db.internal:5432", "", "", "db.internal:5432", ""},
		{"GET /with space HTTP/1.1", "h", "/with space", "", "h", ""},
		{"GET /x HTTP/1.2", "h", "/x", "", "h", message.FlagNonstandardRequestLine},
		{"GET /x", "h", "/x", "", "h", message.FlagNonstandardRequestLine},
	}
	for _, tt := range tests {
		head := tt.line + "\r\n"
		if tt.host != "" {
			head += "Host: " + tt.host + "\r\n"
		}
		rec, _ := run(t, Options{}, []chunk{cl(head + "\r\n")}, nil)
		reqs := rec.requests()
		if len(reqs) != 1 {
			t.Fatalf("%q: %s", tt.line, describe(rec.events))
		}
		r := reqs[0]
		if r.Path != tt.path || r.Query != tt.query || r.Authority != tt.authority || r.Drop != "" {
			t.Errorf("%q: path %q query %q authority %q drop %q; want %q %q %q", tt.line, r.Path, r.Query, r.Authority, r.Drop, tt.path, tt.query, tt.authority)
		}
		if (tt.flag == "") != (len(r.Flags) == 0) || tt.flag != "" && r.Flags[0] != tt.flag {
			t.Errorf("%q: flags %v, want %q", tt.line, r.Flags, tt.flag)
		}
	}
}

// Strings of a message must not alias the caller's buffer, which the
// capture reuses after Feed returns.
func TestNoAliasingOfInput(t *testing.T) {
	rec := &recorder{}
	c := NewParser(&Options{}, rec)
	buf := []byte(withBody("POST /p?q=1 HTTP/1.1\r\nHost: h\r\nX-A: b\r\n", "body"))
	c.Feed(true, buf, tsOf(0))
	for i := range buf {
		buf[i] = '#'
	}
	if got := summary(rec.events[0]); got != `> POST /p?q=1 body="body"` {
		t.Fatalf("after overwriting the input: %s", got)
	}
	r := rec.requests()[0]
	if r.Headers[1].Name != "x-a" || r.Headers[1].Value != "b" || r.Authority != "h" {
		t.Fatalf("headers changed with the input: %v", r.Headers)
	}
}

// The AfterGap rule picks the latest request begun before the response,
// as the pair stage does; older requests are answered by nothing.
func TestAfterGapMatchesLatestRequest(t *testing.T) {
	rec := &recorder{}
	c := NewParser(&Options{Judge: judge{}}, rec)
	c.Feed(true, []byte("HEAD /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"), tsOf(0))
	c.Feed(true, []byte("HEAD /3 HTTP/1.1\r\n\r\n"), tsOf(5))
	c.Gap(false, -1, tsOf(6))
	// Only /3's answer survived: a HEAD response, so no body follows it.
	c.Feed(false, []byte("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"+get200), tsOf(7))
	c.Close(tsOf(8))
	checkHalves(t, rec.events, []string{`> HEAD /1`, `> GET /2`, `> HEAD /3`, `< 200 aftergap flags=after_gap`, `< 200 body="ok"`})
	if got := rec.responses()[0].Start; !got.Equal(tsOf(7)) {
		t.Fatalf("response start %v", got)
	}
}

func TestJudgeSeesRequest(t *testing.T) {
	var seen []string
	j := judgeFunc{
		req: func(r *message.Request) string {
			seen = append(seen, "req "+r.Method+" "+r.Path)
			return ""
		},
		resp: func(q *message.Request, r *message.Response) string {
			seen = append(seen, "resp "+q.Path+" "+time.Duration(r.Status).String())
			return ""
		},
	}
	run(t, Options{Judge: j}, []chunk{cl("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"), sv(get200 + get200)}, nil)
	want := []string{"req GET /a", "req GET /b", "resp /a 200ns", "resp /b 200ns"}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("judge calls %v, want %v", seen, want)
	}
}

type judgeFunc struct {
	req  func(*message.Request) string
	resp func(*message.Request, *message.Response) string
}

func (j judgeFunc) JudgeRequest(r *message.Request) string { return j.req(r) }
func (j judgeFunc) JudgeResponse(q *message.Request, r *message.Response) string {
	return j.resp(q, r)
}
