// Package pair matches each request with its response: FIFO per HTTP/1
// connection, by stream id on HTTP/2, and describes the call of a gRPC
// pair. It enforces the response deadline, the pending bound and the pair
// size limit, and counts every half that never becomes a pair.
package pair

import (
	"time"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

// Options configure pairing for every connection of a pipeline.
type Options struct {
	Pairing config.Pairing
	// MaxPairBytes drops pairs whose halves together exceed it (too_large),
	// counted by message.Pair.Size: the messages, not their record.
	MaxPairBytes int64
	// Direction classifies a pair relative to the captured pod.
	Direction *Direction
	// Out receives every pair made; it runs on the connection's worker.
	Out func(*message.Pair)
	// Tally hears the drops per server; nil counts them in metrics only.
	Tally message.Tally
}

// Matcher pairs the halves of one connection. It implements message.Halves.
// Only the worker that owns the connection calls it.
type Matcher struct {
	opts      *Options
	tally     message.Tally
	client    message.Endpoint
	server    message.Endpoint
	tunnel    message.Tunnel
	direction string
	// TLSLibrary is copied to every pair (message.Conn.TLSLibrary).
	TLSLibrary string
	// fifo holds HTTP/1 requests in wire order.
	fifo []*message.Request
	// streams holds HTTP/2 requests by stream id.
	streams map[uint32]*message.Request
}

// NewMatcher starts pairing a connection between client and server,
// mirrored through tunnel (the zero Tunnel for none).
func NewMatcher(opts *Options, client, server message.Endpoint, tunnel message.Tunnel) *Matcher {
	tally := opts.Tally
	if tally == nil {
		tally = message.NoTally{}
	}
	return &Matcher{
		opts:      opts,
		tally:     tally,
		client:    client,
		server:    server,
		tunnel:    tunnel,
		direction: opts.Direction.Of(client, server),
	}
}

// Request queues a request until its response arrives.
func (c *Matcher) Request(r *message.Request) {
	if r.StreamID != 0 {
		if c.streams == nil {
			c.streams = make(map[uint32]*message.Request)
		}
		if old, ok := c.streams[r.StreamID]; ok {
			// A reused stream id means its response was lost with a gap.
			c.drop(old, metrics.ReasonNoResponse)
		}
		if len(c.streams) >= c.opts.Pairing.MaxPendingPerConn {
			c.dropOldestStream()
		}
		c.streams[r.StreamID] = r
		return
	}
	if len(c.fifo) >= c.opts.Pairing.MaxPendingPerConn {
		c.drop(c.fifo[0], metrics.ReasonPendingLimit)
		c.shiftFIFO(1)
	}
	c.fifo = append(c.fifo, r)
}

// Response pairs a response with its request and hands the pair on.
func (c *Matcher) Response(r *message.Response) {
	var req *message.Request
	if r.StreamID != 0 {
		req = c.streams[r.StreamID]
		delete(c.streams, r.StreamID)
	} else {
		req = c.popFIFO(r)
	}
	if req == nil {
		if r.Drop != "" {
			c.count(r.Drop)
		} else {
			c.count(metrics.ReasonNoRequest)
		}
		return
	}
	c.emit(req, r)
}

// popFIFO takes the request a response answers. In order, that is the
// oldest. After a gap on the server's side, responses may have been
// lost, so the oldest requests may be unanswered: the response then answers
// the latest request sent before it began, and the older ones are counted
// as lost to the gap. Requests pipelined ahead of a lost response can still
// be misjudged: bytes and timing alone cannot tell them apart.
func (c *Matcher) popFIFO(r *message.Response) *message.Request {
	if len(c.fifo) == 0 {
		return nil
	}
	i := 0
	if r.AfterGap {
		for j := len(c.fifo) - 1; j > 0; j-- {
			if !c.fifo[j].Start.After(r.Start) {
				i = j
				break
			}
		}
		for k := range i {
			c.drop(c.fifo[k], metrics.ReasonGap)
		}
	}
	req := c.fifo[i]
	c.shiftFIFO(i + 1)
	return req
}

// shiftFIFO removes the n oldest requests. The rest move to the front, so
// that the queue's array is reused for the connection's life rather than
// reallocated every few requests; it holds one or two requests but for
// pipelining, which MaxPendingPerConn bounds.
func (c *Matcher) shiftFIFO(n int) {
	k := copy(c.fifo, c.fifo[n:])
	clear(c.fifo[k:])
	c.fifo = c.fifo[:k]
}

func (c *Matcher) dropOldestStream() {
	var oldest *message.Request
	for _, r := range c.streams {
		if oldest == nil || r.Start.Before(oldest.Start) {
			oldest = r
		}
	}
	delete(c.streams, oldest.StreamID)
	c.drop(oldest, metrics.ReasonPendingLimit)
}

// Tick abandons requests whose response is overdue at now. A response
// whose headers arrived is not overdue: it is still streaming.
func (c *Matcher) Tick(now time.Time) {
	deadline := now.Add(-c.opts.Pairing.ResponseTimeout)
	kept := c.fifo[:0]
	for _, r := range c.fifo {
		if !r.Answered && r.End.Before(deadline) {
			c.drop(r, metrics.ReasonResponseTimeout)
			continue
		}
		kept = append(kept, r)
	}
	clear(c.fifo[len(kept):])
	c.fifo = kept
	for id, r := range c.streams {
		if !r.Answered && r.End.Before(deadline) {
			delete(c.streams, id)
			c.drop(r, metrics.ReasonResponseTimeout)
		}
	}
}

// Close counts the requests still waiting: the connection ended first.
func (c *Matcher) Close() {
	for _, r := range c.fifo {
		c.drop(r, metrics.ReasonNoResponse)
	}
	c.fifo = nil
	for _, r := range c.streams {
		c.drop(r, metrics.ReasonNoResponse)
	}
	c.streams = nil
}

// Server is the connection's server end.
func (c *Matcher) Server() message.Endpoint { return c.server }

// Pending is the number of requests waiting for a response.
func (c *Matcher) Pending() int { return len(c.fifo) + len(c.streams) }

// drop counts a request that will never become a pair; a request already
// condemned by its parser keeps the parser's reason.
func (c *Matcher) drop(r *message.Request, reason string) {
	if r.Drop != "" {
		reason = r.Drop
	}
	c.count(reason)
}

// count counts a drop on this connection's server.
func (c *Matcher) count(reason string) {
	metrics.Drop(reason)
	c.tally.Drop(c.server, reason)
}

func (c *Matcher) emit(req *message.Request, resp *message.Response) {
	switch {
	case req.Drop != "":
		c.count(req.Drop)
		return
	case resp.Drop != "":
		c.count(resp.Drop)
		return
	}
	p := newPair(req.Proto)
	p.Protocol = req.Proto
	p.Client, p.Server, p.Tunnel = c.client, c.server, c.tunnel
	p.Direction = c.direction
	p.TLSLibrary = c.TLSLibrary
	p.Request, p.Response = req, resp
	if p.Size() > c.opts.MaxPairBytes {
		c.count(metrics.ReasonTooLarge)
		return
	}
	if p.GRPC != nil {
		Describe(p.GRPC, req, resp)
	}
	c.opts.Out(p)
}
