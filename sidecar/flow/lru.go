package flow

import "time"

// lru orders a worker's tracked connections by their latest packet, the
// most recent first, so that at the connection cap the one silent the
// longest can give way to a new one: a connection that stalled (a client
// that sent half a request and went quiet, or one that holds connections
// open to exhaust the cap) is the least useful to keep.
type lru struct{ head, tail *tracked }

// touch moves c to the front, as the connection that saw the latest packet.
func (l *lru) touch(c *tracked) {
	if l.head == c {
		return
	}
	l.remove(c)
	c.next = l.head
	if l.head != nil {
		l.head.prev = c
	}
	l.head = c
	if l.tail == nil {
		l.tail = c
	}
}

func (l *lru) remove(c *tracked) {
	switch {
	case c.prev != nil:
		c.prev.next = c.next
	case l.head == c:
		l.head = c.next
	default:
		return // not in the list
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

// evict sheds the connection silent the longest, if it has been silent for
// at least quiet before now, and reports whether it did.
func (w *worker) evict(now time.Time, quiet time.Duration) bool {
	c := w.lru.tail
	if c == nil || now.UnixNano()-c.last < int64(quiet) {
		return false
	}
	c.shed(now)
	return true
}

// shed stops tracking c before reassembly closes it: its stream ends (what
// it held of a message is handed on as cut short), its parser state is
// released, and it no longer counts against the cap. Reassembly keeps its
// small record until the idle timeout, with the packets that still come
// emptied of their payload, as for an ended connection, until one that
// carries data tracks it again (see rejoin).
func (c *tracked) shed(now time.Time) {
	c.end(now)
	c.user = nil
	c.w.untrack(c)
}
