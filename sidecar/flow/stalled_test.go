package flow

import (
	"fmt"
	"testing"

	"github.com/podtap/podtap/sidecar/message"
)

// TestStalledPartialRequests opens 10,000 connections that each send the
// header block of a JSON POST and the first bytes of its body, then fall
// silent, through the real flow, parse, http1 and pair stages. It reports
// the heap each one holds and checks it is bounded.
//
// The bound: a stalled connection is what an idle keep-alive one holds
// (about 1.5 KiB, see TestIdleKeepAliveConnections), the HTTP/1 parser's
// client direction (416 B), the request with its header block (1 KiB)
// and the body bytes received so far (100 B here, in the smallest body
// buffer, 256 B): about 3.4 KiB, measured. The bound
// is 4 KiB, so that a body buffer sized by the declared Content-Length
// (4 KiB here) before the bytes arrive breaks it. Fixed costs stay under
// 4 MiB.
func TestStalledPartialRequests(t *testing.T) {
	const (
		conns    = 10000
		perConn  = 4 << 10
		fixed    = 4 << 20
		declared = 4096
	)
	path, probe, lastStalled := heldCapture(t, conns, func(i int) []byte {
		req := fmt.Appendf(nil, "POST /api/v1/orders HTTP/1.1\r\nHost: orders:8080\r\nUser-Agent: Go-http-client/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nAccept-Encoding: gzip\r\n\r\n", declared)
		return fmt.Appendf(req, `{"id":%d,"status":"pending","items":[{"sku":"A-1","qty":1},{"sku":"B-2","qty":3}],`, i)
	}, nil)

	growth := heapHeld(t, path, probe, lastStalled, (*message.Pair).Release)
	t.Logf("heap growth with %d stalled partial requests: %d KiB (%d B per connection)", conns, growth>>10, growth/conns)
	if growth > conns*perConn+fixed {
		t.Errorf("heap grew %d KiB for %d stalled connections, more than the %d KiB bound", growth>>10, conns, (conns*perConn+fixed)>>10)
	}
}
