// Package http1 parses HTTP/1.x connections from reassembled TCP byte
// streams: an incremental parser, fed byte slices of both sides as they
// are captured, that hands request and response halves on in wire order.
//
// It keeps up with keep-alive and pipelining, Content-Length, chunked and
// close-delimited bodies, interim responses, HEAD/204/304, protocol
// switches (h2c, WebSocket, CONNECT tunnels) and content codings. It
// survives capture gaps and malformed input by resyncing at the next start
// line, handing on placeholders so that FIFO pairing downstream stays
// aligned, and it bounds the memory any input can make it hold.
package http1

import (
	"math"
	"time"

	"github.com/podtap/podtap/sidecar/message"
)

// unbounded stands for a zero limit in Options: no bound short of what an
// int32 counts, so that arithmetic on a limit cannot overflow.
const unbounded = math.MaxInt32

// Options configure the parsers of every connection. The Conns share them
// (NewParser takes a pointer): they must not change while any Parser parses.
// The sidecar fills every limit from its configuration (see package parse),
// whose defaults apply; a zero limit means no bound, for tests and tools.
type Options struct {
	// MaxHeaderBytes caps a header block or trailer section
	// (limits.max_header_bytes); a larger one is a parse error.
	MaxHeaderBytes int
	// MaxBodyBytes caps a decoded body (limits.max_message_bytes); a
	// larger message is dropped as too_large.
	MaxBodyBytes int
	// MaxPending caps the requests a Parser remembers while their responses
	// are outstanding (pairing.max_pending_per_conn); past it the oldest is
	// handed on unanswered, as the pair stage does with the same bound.
	MaxPending int
	// Judge gives an early verdict from headers, so that bodies of
	// dropped pairs are skipped, not buffered. nil keeps everything.
	Judge message.Judge
}

// Parser parses both sides of one HTTP/1.x connection and hands the
// halves to out in wire order: each response after its request. Only the
// worker that owns the connection calls it.
//
// Most connections are idle keep-alive connections most of the time, and a
// sidecar tracks thousands of them, so an idle Parser is kept small: a
// side's parser state is made when its bytes come and dropped by Trim
// once the side is at rest, and the state of protocol switches
// and held responses exists only while there is any.
type Parser struct {
	out  message.Halves
	opts *Options
	// cli and srv are the sides' parsers, nil while they hold none.
	cli, srv *side
	q        queue
	// sw is the protocol the connection switched to, nil while HTTP/1.
	sw *protoSwitch
	// orphans are complete responses no known request answers, held while
	// the client's bytes lag behind them in capture time (see adopt); nil
	// when none are.
	orphans *orphans
	// cliTS is the capture time of the latest client bytes or gap.
	cliTS   time.Time
	closing bool
	closed  bool
}

// protoSwitch is what Switched reports.
type protoSwitch struct {
	proto   string
	upgrade *message.Request
}

// NewParser starts parsing a connection with opts, which it keeps.
func NewParser(opts *Options, out message.Halves) *Parser {
	return &Parser{out: out, opts: opts}
}

func (o *Options) maxHeader() int  { return orUnbounded(o.MaxHeaderBytes) }
func (o *Options) maxBody() int    { return orUnbounded(o.MaxBodyBytes) }
func (o *Options) maxPending() int { return orUnbounded(o.MaxPending) }

func orUnbounded(limit int) int {
	if limit > 0 {
		return limit
	}
	return unbounded
}

// Feed consumes in-order bytes from the client (fromClient) or the server,
// captured at ts; b is only read during the call. Feeding each captured
// segment with its own capture time lets the Parser tell which request a
// response answers when reassembly delivers the sides out of step.
//
// Feed returns how many bytes were HTTP/1. That is fewer than len(b) only
// when this side reached the point where the connection switched
// protocol (see Switched): b[n:] belongs to the new protocol, and so does
// everything later on that side, for which Feed returns 0.
func (c *Parser) Feed(fromClient bool, b []byte, ts time.Time) int {
	if c.closed {
		return 0
	}
	if !fromClient {
		return c.server().feed(b, ts)
	}
	c.clientAt(ts)
	n := c.client().feed(b, ts)
	c.releaseOrphans()
	return n
}

// Gap reports n bytes lost from one side (n<0: unknown). Inside a
// Content-Length body or a chunk of known size the parser skips exactly n
// and stays in sync, and the message is dropped as gap; otherwise it
// resyncs at the next start line, so one gap never loses the rest of the
// connection. Halves parsed after a resync carry message.FlagAfterGap, and the
// next response AfterGap.
func (c *Parser) Gap(fromClient bool, n int, ts time.Time) {
	if c.closed {
		return
	}
	if !fromClient {
		c.server().gap(n, ts)
		return
	}
	c.clientAt(ts)
	c.client().gap(n, ts)
	c.releaseOrphans()
}

func (c *Parser) clientAt(ts time.Time) {
	if ts.After(c.cliTS) {
		c.cliTS = ts
	}
}

// Close ends the connection: a close-delimited body completes, and any
// message still incomplete is handed on with Drop set (gap), so nothing is
// lost silently. Calls after Close do nothing.
func (c *Parser) Close(ts time.Time) {
	if c.closed {
		return
	}
	c.closing = true
	// A side without a parser is at rest: it has nothing to hand on.
	if c.cli != nil {
		c.cli.close()
	}
	if c.srv != nil {
		c.srv.close()
	}
	c.q.release()
	c.flush()
	c.releaseOrphans()
	c.closed = true
}

// Switched reports the protocol the connection switched to, "" while it
// is HTTP/1:
//   - "h2c": a request with "Upgrade: h2c" was answered by 101. req is
//     that request, which becomes HTTP/2 stream 1; neither it nor the
//     101 is handed to out.
//   - "h2": the client sent the HTTP/2 preface at a message boundary.
//     Feed stops before the preface, or just after it when the preface
//     began in an earlier call.
//   - "tunnel": a 2xx answer to CONNECT. The pair is handed on; the bytes
//     after it are the tunnelled connection's, from its start.
//   - "other": any other 101 (WebSocket, Docker's "Upgrade: tcp"). Those
//     pairs are handed on; then parsing stops.
//
// Each side switches at its own point: the server after its 101 (or
// 2xx to CONNECT, or, for "h2", after answering the requests sent before
// the preface); the client after the request that switched. The switch
// may be seen on one side before the other has reached its point, so
// a caller keeps feeding a side until Feed returns less than it was
// given.
func (c *Parser) Switched() (proto string, req *message.Request) {
	if c.sw == nil {
		return "", nil
	}
	return c.sw.proto, c.sw.upgrade
}

func (c *Parser) setProto(proto string, req *message.Request) {
	if c.sw == nil {
		c.sw = &protoSwitch{proto: proto, upgrade: req}
	}
}

// clientPreface switches the connection to HTTP/2 at the client's preface.
// Sent while an h2c upgrade awaits its answer, it means the upgrade
// succeeded (the 101 is still to be read on the server side).
func (c *Parser) clientPreface(s *side) {
	s.st = stDone
	for i := range c.q.live() {
		if e := c.q.at(i); e.hold && !e.answered {
			e.given = true
			c.setProto("h2c", e.req)
			c.flush()
			return
		}
	}
	c.setProto("h2", nil)
}

// switched handles a 101 Switching Protocols response.
func (c *Parser) switched(seq int64, ts time.Time) {
	s := c.srv
	c.decide(seq, true)
	if e := c.entry(seq); e != nil && e.hold {
		// The h2c upgrade: its request is HTTP/2 stream 1 now, and the 101
		// is part of the switch, not a pair.
		e.given = true
		c.setProto("h2c", e.req)
		s.endMessage()
		c.responseDone(seq, nil)
	} else {
		c.setProto("other", nil)
		s.complete(ts)
	}
	s.st = stDone
}

// decide records the final answer to a request, and lets the client go on
// once it is known whether the connection switches.
func (c *Parser) decide(seq int64, switching bool) {
	e := c.entry(seq)
	if e != nil {
		e.decided = true
		if !switching && e.hold {
			e.hold = false
			c.flush()
		}
	}
	cli := c.cli
	if cli == nil {
		// At rest: neither holding bytes nor inside a request.
		return
	}
	switch {
	case cli.st == stAwait && switching && (e == nil || cli.seq == seq):
		cli.st, cli.buf = stDone, nil
	case cli.st == stAwait && !switching && cli.seq == seq:
		cli.release()
	case switching && e != nil && cli.seq == seq && cli.req != nil:
		// The answer came before the request's end (its body is still
		// arriving): the client stops after it.
		cli.stopAfter = true
	}
}
