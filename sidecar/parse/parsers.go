package parse

import (
	"time"

	"github.com/podtap/podtap/sidecar/http1"
	"github.com/podtap/podtap/sidecar/http2"
	"github.com/podtap/podtap/sidecar/metrics"
)

// h1Parser and h2Parser adapt the protocol parsers to one interface.
type h1Parser struct{ c *http1.Conn }

func (p *h1Parser) feed(fromClient bool, b []byte, ts time.Time) int {
	return p.c.Feed(fromClient, b, ts)
}
func (p *h1Parser) gap(fromClient bool, n int, ts time.Time) { p.c.Gap(fromClient, n, ts) }
func (p *h1Parser) close(ts time.Time)                       { p.c.Close(ts) }

type h2Parser struct{ c *http2.Conn }

func (p *h2Parser) feed(fromClient bool, b []byte, ts time.Time) int {
	p.c.Feed(fromClient, b, ts)
	return len(b)
}
func (p *h2Parser) gap(fromClient bool, n int, ts time.Time) { p.c.Gap(fromClient, n, ts) }
func (p *h2Parser) close(ts time.Time)                       { p.c.Close(ts) }

func countConn(protocol string) { metrics.ConnectionsTotal.WithLabelValues(protocol).Inc() }
