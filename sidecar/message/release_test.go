package message

import "testing"

// TestRelease checks a pair gives back only the buffers lent with a
// ReleaseBody or ReleaseJSON, once each, and clears what pointed into them.
func TestRelease(t *testing.T) {
	var given []string
	lend := func(b []byte) { given = append(given, string(b)) }
	framed := []byte("\x00\x00\x00\x00\x03msg")
	p := &Pair{
		Request:  &Request{Body: []byte("lent"), Lent: []byte("lent"), ReleaseBody: lend},
		Response: &Response{Body: []byte("own")},
		GRPC:     &GRPC{ResponseMessages: [][]byte{[]byte("raw")}},
	}
	p.Release()
	p.Release()
	if len(given) != 1 || given[0] != "lent" {
		t.Fatalf("buffers given back: %q, want the request's once", given)
	}
	if p.Request.Body != nil || p.Request.Lent != nil || p.Request.ReleaseBody != nil {
		t.Error("the request still holds its released body")
	}
	if string(p.Response.Body) != "own" || len(p.GRPC.ResponseMessages) != 1 {
		t.Error("a body not lent was cleared")
	}

	given = nil
	json := []byte(`{"a":1}{}`)
	g := &GRPC{RequestMessages: [][]byte{framed[5:]}, JSONLent: json, ReleaseJSON: lend}
	g.RequestJSON, g.ResponseJSON = g.JSONRoom[:1:1], g.JSONRoom[1:]
	g.JSONRoom = [2][]byte{json[:7], json[7:]}
	p = &Pair{
		Request:  &Request{Messages: g.RequestMessages, Lent: framed, ReleaseBody: lend},
		Response: &Response{},
		GRPC:     g,
	}
	p.Release()
	if len(given) != 2 || given[0] != string(framed) || given[1] != string(json) {
		t.Fatalf("buffers given back: %q, want the request's framed messages and the JSON", given)
	}
	if p.Request.Messages != nil || g.RequestMessages != nil || g.RequestJSON != nil || g.ResponseJSON != nil || g.JSONLent != nil {
		t.Error("the pair still points into a released buffer")
	}
	(&Pair{}).Release()
}
