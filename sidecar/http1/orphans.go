package http1

import (
	"time"

	"github.com/podtap/podtap/sidecar/message"
)

// Reassembly delivers each direction in order, but not the two directions
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

// requestMayCome reports whether a request begun at or before t may still
// be read from the client.
func (c *Conn) requestMayCome(t time.Time) bool {
	s := &c.cli
	switch {
	case c.closing || s.st == stDone:
		return false
	case s.st == stHead && s.started && s.req == nil:
		// A request is being read: it, or one before it, may answer.
		return !s.start.After(t)
	case s.st == stAwait && len(s.buf) > 0:
		return !s.awaitTS.After(t)
	}
	return c.cliTS.Before(t)
}

// holdOrphan takes a complete response that answers no known request.
func (c *Conn) holdOrphan(resp *message.Response) {
	if !c.requestMayCome(resp.Start) {
		c.releaseOrphans()
		c.out.Response(resp)
		return
	}
	c.orphans = append(c.orphans, resp)
	c.orphanBytes += len(resp.Body)
	for len(c.orphans) > maxOrphans || c.orphanBytes > 2*c.maxBody {
		c.handOrphan()
	}
}

// handOrphan hands on the oldest held response as it is.
func (c *Conn) handOrphan() {
	resp := c.orphans[0]
	c.orphans[0] = nil
	c.orphans = c.orphans[1:]
	c.orphanBytes -= len(resp.Body)
	if len(c.orphans) == 0 {
		c.orphans, c.orphanBytes = nil, 0
	}
	c.out.Response(resp)
}

// takeOrphan removes the oldest held response, which a request adopts.
func (c *Conn) takeOrphan() *message.Response {
	resp := c.orphans[0]
	c.orphans[0] = nil
	c.orphans = c.orphans[1:]
	c.orphanBytes -= len(resp.Body)
	return resp
}

// releaseOrphans hands on the held responses that no request can answer
// any more.
func (c *Conn) releaseOrphans() {
	for len(c.orphans) > 0 && !c.requestMayCome(c.orphans[0].Start) {
		c.handOrphan()
	}
}

// adopt gives a request just read the response that arrived ahead of it:
// the oldest held one, or the one being read, if it began no earlier than
// the request. Held responses that began before the request answer some
// request never seen, and go on as they are.
func (c *Conn) adopt(seq int64, req *message.Request) {
	for len(c.orphans) > 0 && c.orphans[0].Start.Before(req.Start) {
		c.handOrphan()
	}
	e := c.entry(seq)
	if len(c.orphans) > 0 {
		resp := c.takeOrphan()
		c.judgeLate(req, resp)
		e.answered, e.decided, e.resp, e.respDone = true, true, resp, true
		return
	}
	s := &c.srv
	if s.resp == nil || s.seq >= 0 || s.resp.Start.Before(req.Start) {
		return
	}
	s.seq = seq
	e.answered, e.decided = true, true
	skip := req.Drop != ""
	if !skip && c.judge != nil && s.drop == "" {
		s.drop = c.judge.JudgeResponse(req, s.resp)
		skip = s.drop != ""
	}
	if skip {
		s.keep, s.kept = false, nil
	}
}

// judgeLate applies to a held response the verdict it would have had if
// its request had come first.
func (c *Conn) judgeLate(req *message.Request, resp *message.Response) {
	if req.Drop == "" && c.judge != nil && resp.Drop == "" {
		resp.Drop = c.judge.JudgeResponse(req, resp)
	}
	if req.Drop != "" || resp.Drop != "" {
		resp.Body = nil
	}
}
