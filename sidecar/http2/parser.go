// Package http2 parses HTTP/2 connections (h2c, prior knowledge or
// upgraded) from both reassembled byte streams of a TCP connection, into
// request and response halves paired by stream id. gRPC streams come out
// as gRPC halves carrying their unframed messages.
//
// It survives a capture that starts mid-connection or loses bytes: frames
// are found again by their shape, and the HPACK decoder of each side
// resolves what the insertions it saw allow, flagging the rest, instead of
// giving up on the connection.
package http2

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

// unbounded stands for a zero limit in Options: no bound short of what an
// int32 counts, so that arithmetic on a limit cannot overflow.
const unbounded = math.MaxInt32

// Options bound what a Parser keeps. The sidecar fills every limit from its
// configuration (see package parse), whose defaults apply; a zero limit
// means no bound, for tests and tools.
type Options struct {
	// MaxHeaderBytes bounds one header block, compressed and decoded
	// (limits.max_header_bytes); a larger one is a parse error.
	MaxHeaderBytes int
	// MaxBodyBytes bounds one request or response body after content
	// decoding (for gRPC, its messages after decompression;
	// limits.max_message_bytes). A larger one is dropped (too_large) and
	// its bytes are skipped, not kept.
	MaxBodyBytes int
	// MaxStreams bounds the streams open at once
	// (pairing.max_pending_per_conn); past it the oldest is abandoned
	// (pending_limit).
	MaxStreams int
	// Judge decides from headers alone whether a pair will be dropped, so
	// that its body is not kept. nil means message.KeepAll.
	Judge message.Judge
}

func (o *Options) unboundZero() {
	for _, limit := range []*int{&o.MaxHeaderBytes, &o.MaxBodyBytes, &o.MaxStreams} {
		if *limit <= 0 {
			*limit = unbounded
		}
	}
	if o.Judge == nil {
		o.Judge = message.KeepAll{}
	}
}

// Parser parses one HTTP/2 connection. The flow worker that owns the
// connection makes every call, so it needs no locks.
type Parser struct {
	opts  Options
	out   message.Halves
	sides [2]*side
	// client is the index of the side that is the HTTP client. Callers
	// guess it (side 0 is the one they call the client); the preface or
	// the first header block's pseudo-headers settle it.
	client      int
	rolesLocked bool
	streams     map[uint32]*stream
	closed      recentIDs
	// lostMax is the highest client stream id that may have started
	// unseen (before the capture, or in lost bytes): frames of such a
	// stream open it as a stream whose request is lost. lostOpen means the
	// bound is still unknown because no new stream was seen since.
	lostMax  uint32
	lostOpen bool
	// highest is the highest client stream id whose request was seen.
	highest uint32
	scratch []hfield
}

// NewParser starts parsing a connection from its first captured bytes,
// which Feed must be given too (the preface included).
func NewParser(opts Options, out message.Halves) *Parser {
	opts.unboundZero()
	c := &Parser{opts: opts, out: out, streams: make(map[uint32]*stream)}
	c.sides[0] = newSide(0)
	c.sides[1] = newSide(1)
	return c
}

// NewUpgradedParser continues a connection after `Upgrade: h2c` and its 101
// response. req, parsed by the HTTP/1 parser, is stream 1's request; its
// response arrives over HTTP/2 on stream 1. Feed gets the bytes after the
// 101 response on the server side and after the upgrade request on the
// client side (the client preface comes first there). req is handed on
// when stream 1 ends.
func NewUpgradedParser(opts Options, out message.Halves, req *message.Request) *Parser {
	c := NewParser(opts, out)
	c.rolesLocked = true
	// Both sides start at the beginning of HTTP/2, so both HPACK
	// tables are known to be empty.
	for _, s := range c.sides {
		s.begin(false)
	}
	c.sides[0].state = stStart
	if v := req.Headers.Get("http2-settings"); v != "" {
		// The client's SETTINGS ride in the upgrade request (RFC 7540
		// §3.2.1); the header table size among them bounds the server's
		// encoder.
		if p, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "=")); err == nil {
			c.settings(c.sides[0], p)
		}
	}
	req.Proto = message.ProtoH2
	req.StreamID = 1
	st := c.open(1, req.Start)
	st.req = req
	st.in.started = true
	st.in.done = true
	st.in.end = req.End
	c.highest = 1
	return c
}

func sideIndex(fromClient bool) int {
	if fromClient {
		return 0
	}
	return 1
}

// Feed parses the next in-order bytes of one side, captured at ts.
func (c *Parser) Feed(fromClient bool, b []byte, ts time.Time) {
	c.feed(c.sides[sideIndex(fromClient)], b, ts)
}

// Close ends the connection: streams still open are handed on, with Drop
// set on the half that did not complete.
func (c *Parser) Close(ts time.Time) {
	for _, s := range c.sides {
		if s.state == stResync && len(s.resync) > 0 {
			// Nothing more will come to prove a boundary: take a run of
			// frames that ends exactly where the bytes end.
			if p, ok := exactChain(s.resync, resyncMaxFrame); ok {
				pending := s.resync[p:]
				s.resync = nil
				s.state = stHeader
				c.feed(s, pending, ts)
			}
		}
	}
	ids := make([]uint32, 0, len(c.streams))
	for id := range c.streams {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		c.abandon(c.streams[id], metrics.ReasonNoResponse, ts)
	}
}

// isClient reports whether side s is the HTTP client.
func (c *Parser) isClient(s *side) bool { return s.idx == c.client }

// peer returns the other side.
func (c *Parser) peer(s *side) *side { return c.sides[1-s.idx] }

// setRole records that side s is (or is not) the client, swapping the
// caller's guess when evidence contradicts it and nothing has been
// decided yet.
func (c *Parser) setRole(s *side, client bool) {
	if c.rolesLocked {
		return
	}
	c.rolesLocked = true
	if c.isClient(s) == client {
		return
	}
	c.client = 1 - c.client
	for _, st := range c.streams {
		st.in, st.out = st.out, st.in
	}
}

// settings applies a SETTINGS payload sent by side s: it bounds what the
// other side sends.
func (c *Parser) settings(s *side, p []byte) {
	o := c.peer(s)
	for ; len(p) >= 6; p = p[6:] {
		v := binary.BigEndian.Uint32(p[2:6])
		switch binary.BigEndian.Uint16(p[:2]) {
		case settingHeaderTableSize:
			o.dec.setAllowed(v)
		case settingMaxFrameSize:
			if v >= defaultMaxFrame && v <= maxFrameLimit {
				o.maxFrame = max(o.maxFrame, v)
			}
		}
	}
}

// recentIDs remembers the last closed stream ids, so that frames arriving
// after a stream ended (window updates, a late RST_STREAM, DATA after the
// server finished) do not open it again.
type recentIDs struct {
	ids [256]uint32
	n   int
}

func (r *recentIDs) add(id uint32) {
	r.ids[r.n%len(r.ids)] = id
	r.n++
}

func (r *recentIDs) has(id uint32) bool {
	for _, v := range r.ids[:min(r.n, len(r.ids))] {
		if v == id {
			return true
		}
	}
	return false
}
