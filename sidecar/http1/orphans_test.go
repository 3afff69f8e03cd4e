package http1

import (
	"testing"
)

// feedAt is one Feed with an explicit capture time (in ms from tsOf(0)),
// for tests where the two directions arrive out of step.
type feedAt struct {
	client bool
	at     int
	data   string
}

func runAt(t *testing.T, opts Options, feeds []feedAt) *recorder {
	t.Helper()
	rec := &recorder{}
	c := NewParser(&opts, rec)
	for _, f := range feeds {
		c.Feed(f.client, []byte(f.data), tsOf(f.at))
	}
	c.Close(tsOf(1000))
	return rec
}

func TestResponsesAheadOfRequests(t *testing.T) {
	resp := func(body string) string { return withBody("HTTP/1.1 200 OK\r\n", body) }
	tests := []struct {
		name  string
		opts  Options
		feeds []feedAt
		want  []string
	}{
		{
			name: "client held back by reassembly",
			feeds: []feedAt{
				{false, 2, resp("one")}, {false, 4, resp("two")},
				{true, 1, "GET /1 HTTP/1.1\r\n\r\n"}, {true, 3, "GET /2 HTTP/1.1\r\n\r\n"},
			},
			want: []string{`> GET /1`, `< 200 body="one"`, `> GET /2`, `< 200 body="two"`},
		},
		{
			name: "request read while its response is being read",
			feeds: []feedAt{
				{false, 2, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhal"},
				{true, 1, "GET /1 HTTP/1.1\r\n\r\n"},
				{false, 3, "ves"},
			},
			want: []string{`> GET /1`, `< 200 body="halves"`},
		},
		{
			name: "a response older than every request has none",
			feeds: []feedAt{
				{false, 2, resp("orphan")},
				{true, 5, "GET /late HTTP/1.1\r\n\r\n"},
				{false, 6, resp("late")},
			},
			want: []string{`< 200 body="orphan"`, `> GET /late`, `< 200 body="late"`},
		},
		{
			name: "the client catching up releases it",
			feeds: []feedAt{
				{false, 2, resp("orphan")},
				{true, 5, "GET /partial HTTP/1.1\r\n"},
			},
			want: []string{`< 200 body="orphan"`, `>   drop=gap`},
		},
		{
			name: "judged when adopted",
			opts: Options{Judge: judge{}},
			feeds: []feedAt{
				{false, 2, resp("dropped with its request")},
				{false, 4, "HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\nbad"},
				{true, 1, withBody("POST /metrics HTTP/1.1\r\n", "m")}, {true, 3, "GET /x HTTP/1.1\r\n\r\n"},
			},
			want: []string{`> POST /metrics size=1 drop=path`, `< 200 size=24`, `> GET /x`, `< 500 size=3 drop=status`},
		},
		{
			name: "close hands on what is held",
			feeds: []feedAt{
				{false, 2, resp("never answered")},
			},
			want: []string{`< 200 body="never answered"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := runAt(t, tt.opts, tt.feeds)
			checkHalves(t, rec.events, tt.want)
		})
	}
}
