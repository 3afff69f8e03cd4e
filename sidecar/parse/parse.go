// Package parse detects each connection's protocol from its first bytes and
// drives the matching parser: HTTP/1.x, HTTP/2 (with gRPC), or nothing for
// anything else, which is then ignored cheaply. It is the parse stage's
// entry point: flow hands it reassembled bytes, and it hands request and
// response halves to the pair stage.
package parse

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/http1"
	"github.com/podtap/podtap/sidecar/http2"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/pair"
)

// Factory makes a Stream per connection; it satisfies flow.Factory.
type Factory struct {
	detectBytes int
	http1       http1.Options
	http2       http2.Options
	pairing     *pair.Options
	tls         *tlsSeen
	// decrypted is set while TLS capture runs (DeferTLS).
	decrypted atomic.Pointer[func(message.Conn) bool]
	tally     message.Tally
}

// NewFactory prepares detection and parsing for every connection. judge
// decides early which pairs will be dropped (message.KeepAll for none);
// pairing.Tally, when set, also hears what each connection turned out to be.
func NewFactory(cfg *config.Sidecar, judge message.Judge, pairing *pair.Options) *Factory {
	var tally message.Tally = message.NoTally{}
	if pairing.Tally != nil {
		tally = pairing.Tally
	}
	return &Factory{
		detectBytes: cfg.Flow.DetectBytes,
		http1: http1.Options{
			MaxHeaderBytes: int(cfg.Limits.MaxHeaderBytes),
			MaxBodyBytes:   int(cfg.Limits.MaxMessageBytes),
			MaxPending:     cfg.Pairing.MaxPendingPerConn,
			Judge:          judge,
		},
		http2: http2.Options{
			MaxHeaderBytes: int(cfg.Limits.MaxHeaderBytes),
			MaxBodyBytes:   int(cfg.Limits.MaxMessageBytes),
			MaxStreams:     cfg.Pairing.MaxPendingPerConn,
			Judge:          judge,
		},
		pairing: pairing,
		tls:     newTLSSeen(slog.Default(), time.Now, tally),
		tally:   tally,
	}
}

// NewStream starts detection on a new connection.
func (f *Factory) NewStream(c message.Conn) *Stream {
	return &Stream{f: f, conn: c}
}

// Stream is one connection's parse state. It satisfies flow.Stream.
// The sidecar keeps one per tracked connection, idle ones included, so
// state only detection needs is held apart, and only while it decides.
type Stream struct {
	f *Factory
	// h1 parses a connection that starts as HTTP/1; h2 one that starts as
	// HTTP/2 or switches to it.
	h1    *http1.Parser
	h2    *http2.Parser
	pairs *pair.Matcher
	// tls reads the ClientHello of a connection that starts as TLS.
	tls *tlsConn
	// undecrypted is a TLS connection's ClientHello, counted at the end
	// unless TLS capture read the connection's plaintext.
	undecrypted *tlsHello
	// pending holds each side's first bytes until detection decides;
	// nil while none are held.
	pending *[2][]byte
	conn    message.Conn
	// clientSide is the side the client sends on, once known.
	clientSide message.Side
	// switched marks the sides that have passed their switch point
	// from HTTP/1 to HTTP/2; each side reaches its own.
	switched [2]bool
	ignored  bool
	// resting marks an HTTP/1 connection whose parser and pairing were
	// let go at rest (see rest): its next bytes make them again.
	resting bool
}

// Data feeds in-order bytes of one side.
func (s *Stream) Data(dir message.Side, b []byte, ts time.Time) {
	switch {
	case s.ignored:
		return
	case s.resting:
		s.wake()
		s.feed(dir, b, ts)
		return
	case s.h1 != nil || s.h2 != nil:
		s.feed(dir, b, ts)
		return
	case s.tls != nil:
		s.tlsData(dir, b)
		return
	}
	if s.pending == nil && s.startOn(dir, b, ts) {
		return
	}
	s.hold(dir, b)
	s.detect(ts)
}

// startOn starts HTTP/1 parsing when a connection's first bytes show a
// request or a response, as most connections' do, feeding them in place:
// holding them for detection would copy them into a buffer of their own.
func (s *Stream) startOn(dir message.Side, b []byte, ts time.Time) bool {
	clientSide := dir
	switch http1.Sniff(b) {
	case http1.Request:
	case http1.Response:
		clientSide = dir.Reverse()
	default:
		return false
	}
	s.start(clientSide, true, ts)
	s.feed(dir, b, ts)
	return true
}

// hold keeps bytes of dir for detection, which decides on them together
// with later ones.
func (s *Stream) hold(dir message.Side, b []byte) {
	if s.pending == nil {
		s.pending = new([2][]byte)
	}
	s.pending[dir] = append(s.pending[dir], b...)
}

// Gap passes a loss on to the parser; during detection it discards what
// was buffered, since bytes on either side of a gap are not contiguous.
func (s *Stream) Gap(dir message.Side, n int, ts time.Time) {
	fromClient := dir == s.clientSide
	switch {
	case s.ignored:
	case s.resting:
		s.wake()
		s.h1.Gap(fromClient, n, ts)
	case s.tls != nil:
		// The rest of the ClientHello is lost: report what was read.
		if dir == s.tls.client {
			s.endTLS()
		}
	case s.h1 != nil && !s.switched[dir]:
		s.h1.Gap(fromClient, n, ts)
	case s.h2 != nil:
		s.h2.Gap(fromClient, n, ts)
	case s.pending != nil:
		s.pending[dir] = s.pending[dir][:0]
	}
}

// Tick expires overdue requests, and trims the HTTP/1 parser: a
// connection quiet since the last tick gives back the state its parsing
// took (see http1.Parser.Trim), and at rest its parser and pairing.
func (s *Stream) Tick(now time.Time) {
	if s.pairs != nil {
		s.pairs.Tick(now)
	}
	if s.h1 != nil {
		s.h1.Trim()
		s.rest()
	}
}

// rest lets go of an HTTP/1 connection's parser and pairing when they
// hold nothing new ones would not: a keep-alive connection spends most of
// its life idle between requests, and the sidecar keeps every one's
// state. wake makes them again.
func (s *Stream) rest() {
	if s.h2 != nil || s.switched != [2]bool{} || !s.h1.Idle() || s.pairs.Pending() > 0 {
		return
	}
	s.h1, s.pairs, s.resting = nil, nil, true
}

// wake makes a resting connection's parser and pairing again, for the
// same client and server; the connection was counted when it started.
func (s *Stream) wake() {
	s.resting = false
	s.pairs = s.newMatcher()
	s.h1 = http1.NewParser(&s.f.http1, s.pairs)
}

// End closes the parsers and counts what never completed.
func (s *Stream) End(ts time.Time) {
	if s.tls != nil {
		s.endTLS()
	}
	if h := s.undecrypted; h != nil {
		s.undecrypted = nil
		if d := s.f.decrypted.Load(); d == nil || !(*d)(s.conn) {
			s.f.tls.count(h.server, h.hello, metrics.TLSNotProbed)
		}
	}
	s.close(ts)
	if s.pairs != nil {
		s.pairs.Close()
	}
	s.pending = nil
}

func (s *Stream) close(ts time.Time) {
	if s.h1 != nil {
		s.h1.Close(ts)
		s.h1 = nil
	}
	if s.h2 != nil {
		s.h2.Close(ts)
		s.h2 = nil
	}
}

// Ignored reports that no more bytes are wanted.
func (s *Stream) Ignored() bool { return s.ignored }

func (s *Stream) ignore(protocol string) { s.ignoreOn(s.server(), protocol) }

// ignoreOn is ignore for a caller that knows the server.
func (s *Stream) ignoreOn(server message.Endpoint, protocol string) {
	s.ignored = true
	s.pending = nil
	s.f.countConn(server, protocol)
}

// server is the connection's server: the parser's once it started, else
// the end that received the SYN, else the end on the lower port, which
// is the listening one far more often than not.
func (s *Stream) server() message.Endpoint {
	switch {
	case s.pairs != nil:
		return s.pairs.Server()
	case s.resting:
		_, server := s.ends()
		return server
	case s.conn.SawSYN || s.conn.A.Port >= s.conn.B.Port:
		return s.conn.B
	}
	return s.conn.A
}

// feed hands bytes to the parser of their side and follows a switch
// from HTTP/1 to HTTP/2 (h2c upgrade or prior-knowledge preface).
func (s *Stream) feed(dir message.Side, b []byte, ts time.Time) {
	fromClient := dir == s.clientSide
	if s.h1 != nil && !s.switched[dir] {
		n := s.h1.Feed(fromClient, b, ts)
		if n >= len(b) {
			return
		}
		proto, req := s.h1.Switched()
		switch proto {
		case "h2c", "h2":
			if s.h2 == nil {
				if proto == "h2c" {
					s.h2 = http2.NewUpgradedParser(s.f.http2, s.pairs, req)
				} else {
					s.h2 = http2.NewParser(s.f.http2, s.pairs)
				}
				s.f.countConn(s.server(), "http2")
			}
			s.switched[dir] = true
			b = b[n:]
		case "tunnel":
			// The tunnel carries a connection of its own: plaintext
			// HTTP/2 (gRPC through a proxy) is parsed, TLS counted by its
			// ClientHello, anything else ignored.
			s.h1.Close(ts)
			s.h1 = nil
			s.hold(dir, b[n:])
			s.detect(ts)
			return
		default:
			// WebSocket and other upgrades carry no HTTP after the switch.
			s.close(ts)
			s.ignore("upgraded")
			return
		}
	}
	if s.h2 != nil && len(b) > 0 {
		s.h2.Feed(fromClient, b, ts)
	}
}
