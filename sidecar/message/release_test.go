package message

import "testing"

// TestRelease checks a pair gives back only the bodies lent with a
// ReleaseBody, once, and clears them.
func TestRelease(t *testing.T) {
	var given [][]byte
	lend := func(b []byte) { given = append(given, b) }
	p := &Pair{
		Request:  &Request{Body: []byte("lent"), ReleaseBody: lend},
		Response: &Response{Body: []byte("own")},
	}
	p.Release()
	p.Release()
	if len(given) != 1 || string(given[0]) != "lent" {
		t.Fatalf("bodies given back: %q, want the request's once", given)
	}
	if p.Request.Body != nil || p.Request.ReleaseBody != nil {
		t.Error("the request still holds its released body")
	}
	if string(p.Response.Body) != "own" {
		t.Error("a body not lent was cleared")
	}
	(&Pair{}).Release()
}
