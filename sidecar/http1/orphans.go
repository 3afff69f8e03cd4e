package http1

import (
	"time"

	"github.com/podtap/podtap/sidecar/message"
)

// Reassembly delivers each side in order, but not the two sides
// in step: while the client's bytes wait behind a lost segment, the
// server's keep flowing, and responses arrive before the requests they
// answer. A response that no known request answers is therefore held
// while the client's bytes lag behind it in capture time; a request read
// later that began before it adopts it. Only when the client has caught up
// (or the connection ends) is a response without a request handed on as
// such.

// maxOrphans caps the responses held for requests not yet read; their
// bodies together are also capped, at twice the body limit. Past either
// cap the oldest goes on without its request.
const maxOrphans = 64

// orphans are the held responses, oldest first, and their bodies' size.
type orphans struct {
	resps []*message.Response
	bytes int
}

// requestMayCome reports whether a request begun at or before t may still
// be read from the client.
func (c *Parser) requestMayCome(t time.Time) bool {
	if c.closing {
		return false
	}
	if s := c.cli; s != nil {
		switch {
		case s.st == stDone:
			return false
		case s.st == stHead && s.started && s.req == nil:
			// A request is being read: it, or one before it, may answer.
			return !s.start.After(t)
		case s.st == stAwait && len(s.buf) > 0:
			return !s.awaitTS.After(t)
		}
	}
	return c.cliTS.Before(t)
}

// holdOrphan takes a complete response that answers no known request.
func (c *Parser) holdOrphan(resp *message.Response) {
	if !c.requestMayCome(resp.Start) {
		c.releaseOrphans()
		c.out.Response(resp)
		return
	}
	if c.orphans == nil {
		c.orphans = &orphans{}
	}
	o := c.orphans
	o.resps = append(o.resps, resp)
	o.bytes += len(resp.Body)
	for len(o.resps) > maxOrphans || o.bytes > 2*c.opts.maxBody() {
		c.handOrphan()
	}
}

// oldestOrphan returns the oldest held response, or nil.
func (c *Parser) oldestOrphan() *message.Response {
	if c.orphans == nil {
		return nil
	}
	return c.orphans.resps[0]
}

// handOrphan hands on the oldest held response as it is.
func (c *Parser) handOrphan() {
	c.out.Response(c.takeOrphan())
}

// takeOrphan removes the oldest held response, which a request adopts or
// which goes on as it is. The last one taken drops the held list.
func (c *Parser) takeOrphan() *message.Response {
	o := c.orphans
	resp := o.resps[0]
	o.resps[0] = nil
	o.resps = o.resps[1:]
	o.bytes -= len(resp.Body)
	if len(o.resps) == 0 {
		c.orphans = nil
	}
	return resp
}

// releaseOrphans hands on the held responses that no request can answer
// any more.
func (c *Parser) releaseOrphans() {
	for r := c.oldestOrphan(); r != nil && !c.requestMayCome(r.Start); r = c.oldestOrphan() {
		c.handOrphan()
	}
}

// adopt gives a request just read the response that arrived ahead of it:
// the oldest held one, or the one being read, if it began no earlier than
// the request. Held responses that began before the request answer some
// request never seen, and go on as they are.
func (c *Parser) adopt(seq int64, req *message.Request) {
	for r := c.oldestOrphan(); r != nil && r.Start.Before(req.Start); r = c.oldestOrphan() {
		c.handOrphan()
	}
	e := c.entry(seq)
	if c.orphans != nil {
		resp := c.takeOrphan()
		c.judgeLate(req, resp)
		e.answered, e.decided, e.resp, e.respDone = true, true, resp, true
		return
	}
	s := c.srv
	if s == nil || s.resp == nil || s.seq >= 0 || s.resp.Start.Before(req.Start) {
		return
	}
	s.seq = seq
	e.answered, e.decided = true, true
	skip := req.Drop != ""
	if !skip && c.opts.Judge != nil && s.drop == "" {
		s.drop = c.opts.Judge.JudgeResponse(req, s.resp)
		skip = s.drop != ""
	}
	if skip {
		s.keep, s.kept = false, nil
	}
}

// judgeLate applies to a held response the verdict it would have had if
// its request had come first.
func (c *Parser) judgeLate(req *message.Request, resp *message.Response) {
	if req.Drop == "" && c.opts.Judge != nil && resp.Drop == "" {
		resp.Drop = c.opts.Judge.JudgeResponse(req, resp)
	}
	if req.Drop != "" || resp.Drop != "" {
		resp.Body = nil
	}
}
