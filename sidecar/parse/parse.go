// Package parse detects each connection's protocol from its first bytes and
// drives the matching parser: HTTP/1.x, HTTP/2 (with gRPC), or nothing for
// anything else, which is then ignored cheaply. It is the parse stage's
// entry point: flow hands it reassembled bytes, and it hands request and
// response halves to the pair stage.
package parse

import (
	"time"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/http1"
	"github.com/podtap/podtap/sidecar/http2"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/pair"
)

// Factory makes a Stream per connection; it satisfies flow.Factory.
type Factory struct {
	detectBytes int
	http1       http1.Options
	http2       http2.Options
	pairing     *pair.Options
}

// NewFactory prepares detection and parsing for every connection. judge
// decides early which pairs will be dropped (message.KeepAll for none).
func NewFactory(cfg *config.Sidecar, judge message.Judge, pairing *pair.Options) *Factory {
	return &Factory{
		detectBytes: cfg.Flow.DetectBytes,
		http1: http1.Options{
			MaxHeaderBytes: int(cfg.Limits.MaxHeaderBytes),
			MaxBodyBytes:   int(cfg.Limits.MaxMessageBytes),
			Judge:          judge,
		},
		http2: http2.Options{
			MaxHeaderBytes: int(cfg.Limits.MaxHeaderBytes),
			MaxBodyBytes:   int(cfg.Limits.MaxMessageBytes),
			Judge:          judge,
		},
		pairing: pairing,
	}
}

// NewStream starts detection on a new connection.
func (f *Factory) NewStream(c message.Conn) *Stream {
	return &Stream{f: f, conn: c}
}

// parser is what Stream drives once the protocol is known.
type parser interface {
	// feed returns how many bytes it consumed; fewer than len(b) means
	// the connection switched protocol there.
	feed(fromClient bool, b []byte, ts time.Time) int
	gap(fromClient bool, n int, ts time.Time)
	close(ts time.Time)
}

// Stream is one connection's parse state. It satisfies flow.Stream.
type Stream struct {
	f    *Factory
	conn message.Conn
	// clientDir is the direction the client sends in, once known.
	clientDir message.Dir
	p         parser
	pairs     *pair.Conn
	ignored   bool
	// tunnel is set after a protocol switch other than to HTTP/2: the
	// bytes that follow are parsed only if they are HTTP/2.
	tunnel bool
	// pending holds each direction's first bytes until detection decides.
	pending [2][]byte
}

// Data feeds in-order bytes of one direction.
func (s *Stream) Data(dir message.Dir, b []byte, ts time.Time) {
	switch {
	case s.ignored:
		return
	case s.p != nil:
		s.feed(dir, b, ts)
		return
	}
	s.pending[dir] = append(s.pending[dir], b...)
	s.detect(ts)
}

// Gap passes a loss on to the parser; during detection it discards what
// was buffered, since bytes on either side of a gap are not contiguous.
func (s *Stream) Gap(dir message.Dir, n int, ts time.Time) {
	switch {
	case s.ignored:
	case s.p != nil:
		s.p.gap(dir == s.clientDir, n, ts)
	default:
		s.pending[dir] = s.pending[dir][:0]
	}
}

// Tick expires overdue requests.
func (s *Stream) Tick(now time.Time) {
	if s.pairs != nil {
		s.pairs.Tick(now)
	}
}

// End closes the parser and counts what never completed.
func (s *Stream) End(ts time.Time) {
	if s.p != nil {
		s.p.close(ts)
		s.p = nil
	}
	if s.pairs != nil {
		s.pairs.Close()
	}
	s.pending = [2][]byte{}
}

// Ignored reports that no more bytes are wanted.
func (s *Stream) Ignored() bool { return s.ignored }

func (s *Stream) ignore(protocol string) {
	s.ignored = true
	s.pending = [2][]byte{}
	countConn(protocol)
}

// feed hands bytes to the parser and follows a protocol switch.
func (s *Stream) feed(dir message.Dir, b []byte, ts time.Time) {
	fromClient := dir == s.clientDir
	n := s.p.feed(fromClient, b, ts)
	if n >= len(b) || s.ignored {
		return
	}
	h1, ok := s.p.(*h1Parser)
	if !ok {
		return
	}
	switch proto, req := h1.c.Switched(); proto {
	case "h2c":
		s.p = &h2Parser{http2.NewUpgradedConn(s.f.http2, s.pairs, req)}
	case "h2":
		s.p = &h2Parser{http2.NewConn(s.f.http2, s.pairs)}
	default:
		s.p.close(ts)
		s.p = nil
		// A CONNECT tunnel or another protocol: only an HTTP/2 preface
		// from the client is looked for, as gRPC through a forward proxy
		// runs HTTP/2 with prior knowledge inside the tunnel.
		s.tunnel = true
		s.Data(dir, b[n:], ts)
		return
	}
	countConn("http2")
	s.p.feed(fromClient, b[n:], ts)
}
