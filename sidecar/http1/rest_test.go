package http1

import "testing"

// After Trim, a direction holds parser state only while it is inside a
// message or carries something over to the next one, and an idle
// connection's queue keeps no array: what an idle keep-alive connection
// costs is the Parser. Trimming between any two calls changes nothing parsed.
func TestTrim(t *testing.T) {
	rec := &recorder{}
	c := NewParser(&Options{}, rec)
	for i, step := range []struct {
		ch       chunk
		cli, srv bool // whether each direction holds state after the step
	}{
		{cl("GET /a HTTP/1.1\r\nHost: h\r\n"), true, false}, // inside the header block
		{cl("\r\n"), false, false},
		{sv("HTTP/1.1 100 Continue\r\n\r\n"), false, true}, // the interim status goes with the final response
		{sv("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no"), false, true},
		{sv("k"), false, false},
		{cl("POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nab"), true, false},
		{cl("c"), false, false},
		{sgap(-1), false, true}, // resyncing
		{sv("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), false, false},
		{cl("P"), true, false}, // perhaps the HTTP/2 preface
		{cl("UT /c HTTP/1.1\r\n\r\n"), false, false},
		{sv(get200), false, false},
	} {
		if step.ch.gap != 0 {
			c.Gap(step.ch.client, step.ch.gap, tsOf(i))
		} else {
			c.Feed(step.ch.client, []byte(step.ch.data), tsOf(i))
		}
		c.Trim()
		if got := [2]bool{c.cli != nil, c.srv != nil}; got != [2]bool{step.cli, step.srv} {
			t.Fatalf("step %d: client and server hold state %v, want %v", i, got, [2]bool{step.cli, step.srv})
		}
	}
	if c.q.q != nil {
		t.Errorf("the queue keeps an array of %d entries with nothing pending", cap(c.q.q))
	}
	c.Close(tsOf(99))
	checkHalves(t, rec.events, []string{
		`> GET /a`, `< 200 interim=[100] body="ok"`,
		`> POST /b body="abc"`, `< 200 aftergap flags=after_gap`,
		`> PUT /c`, `< 200 body="ok"`,
	})
}
