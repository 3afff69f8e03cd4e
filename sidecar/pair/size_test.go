package pair

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

// binaryPair sends a GET for /f to host h answered by body bytes that are
// not UTF-8, so that the record carries the body as base64. Its size as
// limits.max_pair_bytes counts it is 55+len(body): the request's method,
// path and authority (6) and its host field (4+1+4), the response's
// content-type field (12+24+4), and the body.
func binaryPair(conn *Matcher, body []byte) {
	r := req("/f", 0)
	r.Authority = "h"
	r.Headers = message.Headers{{Name: "host", Value: "h"}}
	conn.Request(r)
	rs := resp(200, 1)
	rs.Headers = message.Headers{{Name: "content-type", Value: "application/octet-stream"}}
	rs.ContentType = "application/octet-stream"
	rs.Body, rs.BodySize = body, int64(len(body))
	conn.Response(rs)
}

func TestPairLimitCountsMessagesNotRecord(t *testing.T) {
	var c collected
	conn := newConn(&c)
	limit := conn.opts.MaxPairBytes
	const overhead = 55
	before := dropped(metrics.ReasonTooLarge)

	// At the limit exactly: passes, though base64 alone makes its record a
	// third larger than the limit.
	atLimit := bytes.Repeat([]byte{0xff}, int(limit-overhead))
	if enc := int64(base64.StdEncoding.EncodedLen(len(atLimit))); enc <= limit {
		t.Fatalf("body's base64 is %d bytes, not over the %d-byte limit", enc, limit)
	}
	binaryPair(conn, atLimit)
	if len(c.pairs) != 1 {
		t.Fatalf("a pair at the %d-byte limit was not emitted", limit)
	}
	if got := c.pairs[0].Size(); got != limit {
		t.Fatalf("pair counts %d bytes, want %d", got, limit)
	}

	// One byte over: dropped and counted as too_large.
	binaryPair(conn, append(atLimit, 0xff))
	if len(c.pairs) != 1 {
		t.Fatal("a pair one byte over the limit was emitted")
	}
	if d := dropped(metrics.ReasonTooLarge) - before; d != 1 {
		t.Fatalf("too_large drops %v, want 1", d)
	}
}
