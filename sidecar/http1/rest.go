package http1

// A side at rest (at a message boundary, carrying nothing over to the
// next message) parses on exactly as a new one would. Idle keep-alive
// connections are at rest on both sides nearly all the time, and a
// sidecar tracks thousands of them, so Trim drops the state of a side
// at rest, and the next bytes make a new one.
//
// The state goes to the collector, not to a pool: one tick trims thousands
// of connections that went quiet together, and a sync.Pool would keep all
// their states until two collections had passed, which an idle process
// may not see for minutes.

// Trim drops the parser state of each side at rest and the array of
// an empty request queue, so that an idle connection holds nothing but the
// Parser itself; parsing goes on exactly as before. A busy connection keeps
// its state between messages, so that each message does not pay to make
// it again: the caller trims when the connection may have gone quiet (the
// parse stage: on every tick, once a flush interval).
func (c *Parser) Trim() {
	if c.cli != nil && c.cli.atRest() {
		c.cli = nil
	}
	if c.srv != nil && c.srv.atRest() {
		c.srv = nil
	}
	c.q.trim()
}

// Idle reports whether the parser, trimmed, holds nothing a new one would
// not: no side's state, no request pending, no switch, no orphan, not
// closed. The caller may then let it go, and make a new one for the
// connection's next bytes.
func (c *Parser) Idle() bool {
	return c.cli == nil && c.srv == nil && c.q.live() == 0 && c.q.q == nil && c.sw == nil && c.orphans == nil && !c.closing && !c.closed
}

// client returns the client side's parser, making one when the
// side holds none.
func (c *Parser) client() *side {
	if c.cli == nil {
		c.cli = &side{c: c, client: true}
	}
	return c.cli
}

// server returns the server side's parser, as client does.
func (c *Parser) server() *side {
	if c.srv == nil {
		c.srv = &side{c: c}
	}
	return c.srv
}

// atRest reports whether the side is at a message boundary with
// nothing carried over: no partial preface, no buffered bytes, no flag or
// interim responses for the next message.
func (s *side) atRest() bool {
	return s.st == stHead && !s.started && s.pre == 0 && len(s.buf) == 0 &&
		s.next == "" && !s.afterGap && len(s.interim) == 0
}
