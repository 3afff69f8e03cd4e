package tlscapture

import (
	"time"

	"github.com/podtap/podtap/sidecar/message"
)

// maxHeld bounds the plaintext kept for a connection whose fd is not known
// yet (a call served from the library's buffer before any syscall).
const maxHeld = 64 << 10

type conn struct {
	library string
	// sock is the connection's socket, once the kernel named it.
	sock   socket
	stream Stream
	last   time.Time
	held   []heldData
	// heldBytes counts held plaintext, bounded by maxHeld.
	heldBytes int
}

type heldData struct {
	dir  message.Side
	data []byte
	ts   time.Time
}

// hold keeps b until the connection's socket is known; it reports false,
// keeping nothing, past maxHeld.
func (c *conn) hold(dir message.Side, b []byte, ts time.Time) bool {
	if c.heldBytes+len(b) > maxHeld {
		return false
	}
	c.heldBytes += len(b)
	c.held = append(c.held, heldData{dir: dir, data: append([]byte(nil), b...), ts: ts})
	return true
}

// alive reports whether the connection's fd still names its socket: a
// closed or reused fd ends the connection.
func (c *conn) alive(proc string, pid uint32) bool {
	if c.stream == nil {
		return true
	}
	ino, err := socketInode(proc, pid, c.sock.fd)
	return err == nil && ino == c.sock.ino
}
