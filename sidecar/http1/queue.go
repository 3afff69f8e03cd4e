package http1

import "github.com/podtap/podtap/sidecar/message"

// pending is a request whose response has not been handed on yet. The Parser
// needs it to read the response (HEAD has no body, CONNECT tunnels, the
// judge sees both) and to hand halves on in an order FIFO pairing can
// follow: a response never before its request.
type pending struct {
	req  *message.Request
	resp *message.Response
	// done: the request was read to its end. handed: out has it.
	done, handed bool
	// hold keeps an h2c upgrade request back until its answer shows it
	// stays HTTP/1; given marks it as having become HTTP/2 stream 1.
	hold, given bool
	// answered: a response was matched to it. respDone: that response
	// was read (resp is nil when there is nothing to hand on). decided:
	// its final status is known.
	answered, respDone, decided bool
}

// queue holds pending requests in wire order, addressed by sequence
// number so that entries can be found after earlier ones leave.
type queue struct {
	q    []pending
	head int   // q[head:] are live
	base int64 // sequence number of q[head]
}

func (q *queue) live() int { return len(q.q) - q.head }

func (q *queue) at(i int) *pending { return &q.q[q.head+i] }

func (q *queue) entry(seq int64) *pending {
	i := seq - q.base
	if seq < 0 || i < 0 || i >= int64(q.live()) {
		return nil
	}
	return q.at(int(i))
}

func (q *queue) push(p pending) int64 {
	if q.head > 0 && len(q.q) == cap(q.q) {
		n := copy(q.q, q.q[q.head:])
		clear(q.q[n:])
		q.q, q.head = q.q[:n], 0
	}
	q.q = append(q.q, p)
	return q.base + int64(q.live()-1)
}

func (q *queue) pop() {
	q.q[q.head] = pending{}
	q.head++
	q.base++
	if q.head == len(q.q) {
		q.q, q.head = q.q[:0], 0
	}
}

// trim lets the array of an empty queue go.
func (q *queue) trim() {
	if q.live() == 0 {
		q.q, q.head = nil, 0
	}
}

// release lets every held request go, when the connection ends.
func (q *queue) release() {
	for i := range q.live() {
		q.at(i).hold = false
	}
}

func (c *Parser) entry(seq int64) *pending { return c.q.entry(seq) }

// pushRequest queues a request whose headers were just read and returns
// its sequence number. hold keeps it from out until its answer is known.
func (c *Parser) pushRequest(req *message.Request, hold bool) int64 {
	if c.q.live() >= c.opts.maxPending() {
		// A client that pipelines without answers: forget the oldest, as
		// the pair stage does with its own bound.
		e := c.q.at(0)
		if !e.handed && !e.given {
			c.out.Request(e.req)
		}
		if e.respDone && e.resp != nil {
			c.out.Response(e.resp)
		}
		c.q.pop()
	}
	seq := c.q.push(pending{req: req, hold: hold})
	c.adopt(seq, req)
	return seq
}

// requestDone records the end of a request and hands on what can go.
func (c *Parser) requestDone(seq int64) {
	if e := c.entry(seq); e != nil {
		e.done = true
	}
	c.flush()
}

// matchResponse finds the request a response answers: the oldest one not
// yet answered. After a gap on the server's side, responses may have
// been lost, so it takes the latest request that began before the response
// did, skipping the older ones. This is the pair stage's rule, so both
// agree on which request a response belongs to. It returns -1 and nil for
// a response to a request never seen.
func (c *Parser) matchResponse(resp *message.Response) (int64, *message.Request) {
	n := c.q.live()
	f := 0
	for f < n && c.q.at(f).answered {
		f++
	}
	if f == n {
		return -1, nil
	}
	j := f
	if resp.AfterGap {
		for k := n - 1; k > f; k-- {
			if !c.q.at(k).req.Start.After(resp.Start) {
				j = k
				break
			}
		}
		for k := f; k < j; k++ {
			e := c.q.at(k)
			e.answered, e.respDone = true, true
		}
	}
	e := c.q.at(j)
	e.answered = true
	return c.q.base + int64(j), e.req
}

// responseDone records a read response (nil: nothing to hand on) and hands
// on what can go.
func (c *Parser) responseDone(seq int64, resp *message.Response) {
	e := c.entry(seq)
	if e == nil {
		if resp != nil {
			c.holdOrphan(resp)
		}
		return
	}
	e.resp, e.respDone = resp, true
	c.flush()
}

// unanswered reports whether some request still waits for its response.
func (c *Parser) unanswered() bool {
	for i := range c.q.live() {
		if !c.q.at(i).answered {
			return true
		}
	}
	return false
}

// flush hands on, in wire order, every request that is complete and not
// held, then every response whose request has been handed on.
func (c *Parser) flush() {
	for i := range c.q.live() {
		e := c.q.at(i)
		if e.handed {
			continue
		}
		if e.given {
			e.handed = true
			continue
		}
		if !e.done || e.hold {
			break
		}
		e.handed = true
		c.out.Request(e.req)
	}
	for c.q.live() > 0 {
		e := c.q.at(0)
		if !e.handed || !e.respDone {
			return
		}
		if e.resp != nil {
			c.out.Response(e.resp)
		}
		c.q.pop()
	}
}
