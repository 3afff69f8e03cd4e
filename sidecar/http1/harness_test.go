package http1

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/podtap/podtap/sidecar/message"
)

// recorder is the Halves a test parses into: every half in the order the
// Parser handed it on.
type recorder struct {
	events []any // *message.Request or *message.Response
	// maxLineBuf is the largest line buffer the Parser held between calls.
	maxLineBuf int
}

func (r *recorder) Request(q *message.Request)   { r.events = append(r.events, q) }
func (r *recorder) Response(p *message.Response) { r.events = append(r.events, p) }

func (r *recorder) requests() []*message.Request {
	var out []*message.Request
	for _, e := range r.events {
		if q, ok := e.(*message.Request); ok {
			out = append(out, q)
		}
	}
	return out
}

func (r *recorder) responses() []*message.Response {
	var out []*message.Response
	for _, e := range r.events {
		if p, ok := e.(*message.Response); ok {
			out = append(out, p)
		}
	}
	return out
}

// chunk is one Feed call of a scripted connection, or a gap when gap != 0.
type chunk struct {
	client bool
	data   string
	gap    int
}

func cl(s string) chunk    { return chunk{client: true, data: s} }
func sv(s string) chunk    { return chunk{data: s} }
func cgap(n int) chunk     { return chunk{client: true, gap: n} }
func sgap(n int) chunk     { return chunk{gap: n} }
func tsOf(i int) time.Time { return time.Unix(1700000000, 0).Add(time.Duration(i) * time.Millisecond) }

// run feeds a script to a new Parser and closes it. split, when non-nil,
// cuts each data chunk into the pieces it returns; the Parser is then also
// trimmed after every call, so that comparing with a run fed whole checks
// that trimming changes nothing parsed.
func run(t testing.TB, opts Options, script []chunk, split func([]byte) [][]byte) (*recorder, *Parser) {
	t.Helper()
	rec := &recorder{}
	c := NewParser(&opts, rec)
	for i, ch := range script {
		ts := tsOf(i)
		if ch.gap != 0 {
			c.Gap(ch.client, ch.gap, ts)
			rec.maxLineBuf = max(rec.maxLineBuf, lineBufCap(c))
			if split != nil {
				c.Trim()
			}
			continue
		}
		pieces := [][]byte{[]byte(ch.data)}
		if split != nil {
			pieces = split([]byte(ch.data))
		}
		for _, p := range pieces {
			if n := c.Feed(ch.client, p, ts); n != len(p) {
				if proto, _ := c.Switched(); proto == "" {
					t.Fatalf("Feed consumed %d of %d bytes without a protocol switch", n, len(p))
				}
			}
			rec.maxLineBuf = max(rec.maxLineBuf, lineBufCap(c))
			if split != nil {
				c.Trim()
			}
		}
	}
	c.Close(tsOf(len(script)))
	return rec, c
}

// lineBufCap is the capacity of the larger line buffer of c's directions;
// a direction at rest holds none.
func lineBufCap(c *Parser) int {
	n := 0
	for _, s := range []*side{c.cli, c.srv} {
		if s != nil {
			n = max(n, cap(s.buf))
		}
	}
	return n
}

// describe renders halves compactly and deterministically, for comparing
// runs and for readable failures.
func describe(events []any) string {
	var b strings.Builder
	for _, e := range events {
		switch v := e.(type) {
		case *message.Request:
			fmt.Fprintf(&b, "REQ %s %s %q q=%q a=%q ct=%q body=%q size=%d trunc=%v drop=%q flags=%v hdrs=%v trailers=%v start=%d end=%d\n",
				v.Proto, v.Method, v.Path, v.Query, v.Authority, v.ContentType, v.Body, v.BodySize, v.Truncated, v.Drop, v.Flags, v.Headers, v.Trailers, v.Start.UnixMilli()%100000, v.End.UnixMilli()%100000)
		case *message.Response:
			fmt.Fprintf(&b, "RESP %s %d ct=%q body=%q size=%d trunc=%v drop=%q flags=%v interim=%v aftergap=%v hdrs=%v trailers=%v start=%d end=%d\n",
				v.Proto, v.Status, v.ContentType, v.Body, v.BodySize, v.Truncated, v.Drop, v.Flags, v.Interim, v.AfterGap, v.Headers, v.Trailers, v.Start.UnixMilli()%100000, v.End.UnixMilli()%100000)
		}
	}
	return b.String()
}

// summary renders one half in the compact form the table tests expect:
// "> METHOD PATH?QUERY ..." for requests, "< STATUS ..." for responses,
// followed by the fields that differ from the plain case.
func summary(e any) string {
	var b strings.Builder
	var body []byte
	var size int64
	var drop string
	var trunc bool
	var flags []string
	var trailers message.Headers
	switch v := e.(type) {
	case *message.Request:
		fmt.Fprintf(&b, "> %s %s", v.Method, v.Path)
		if v.Query != "" {
			b.WriteString("?" + v.Query)
		}
		if v.Proto != message.ProtoHTTP11 {
			b.WriteString(" " + v.Proto)
		}
		body, size, drop, trunc, flags, trailers = v.Body, v.BodySize, v.Drop, v.Truncated, v.Flags, v.Trailers
	case *message.Response:
		fmt.Fprintf(&b, "< %d", v.Status)
		if v.Proto != message.ProtoHTTP11 {
			b.WriteString(" " + v.Proto)
		}
		if len(v.Interim) > 0 {
			fmt.Fprintf(&b, " interim=%v", v.Interim)
		}
		if v.AfterGap {
			b.WriteString(" aftergap")
		}
		body, size, drop, trunc, flags, trailers = v.Body, v.BodySize, v.Drop, v.Truncated, v.Flags, v.Trailers
	}
	if body != nil {
		fmt.Fprintf(&b, " body=%q", body)
	}
	if size != int64(len(body)) {
		fmt.Fprintf(&b, " size=%d", size)
	}
	if drop != "" {
		b.WriteString(" drop=" + drop)
	}
	if trunc {
		b.WriteString(" truncated")
	}
	if len(flags) > 0 {
		b.WriteString(" flags=" + strings.Join(flags, ","))
	}
	for i, f := range trailers {
		if i == 0 {
			b.WriteString(" trailers=")
		} else {
			b.WriteString(",")
		}
		b.WriteString(f.Name + ":" + f.Value)
	}
	return b.String()
}

func summaries(events []any) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = summary(e)
	}
	return out
}

func checkHalves(t *testing.T, got []any, want []string) {
	t.Helper()
	g := summaries(got)
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Fatalf("halves differ\n got:\n  %s\nwant:\n  %s", strings.Join(g, "\n  "), strings.Join(want, "\n  "))
	}
}
