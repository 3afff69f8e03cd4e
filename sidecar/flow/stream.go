package flow

import (
	"time"

	"github.com/podtap/podtap/sidecar/message"
)

// Side and Conn live in message, the pipeline's shared vocabulary, so that
// the parse stage implements Stream without importing this upstream package.
type (
	Side = message.Side
	Conn = message.Conn
)

const (
	AtoB = message.AtoB
	BtoA = message.BtoA
)

// Stream consumes one reassembled TCP connection, both sides. The
// worker that owns the connection makes every call, so a Stream needs no
// locks. Byte slices are valid only during the call.
type Stream interface {
	// Data delivers in-order bytes of one side, captured at ts.
	Data(dir Side, b []byte, ts time.Time)
	// Gap reports n bytes lost on one side before the next Data
	// (n < 0 when unknown); the parser resyncs at the next message start.
	Gap(dir Side, n int, ts time.Time)
	// Tick is called every flow.flush_interval with the capture clock, so
	// that pending requests can time out on a quiet connection.
	Tick(now time.Time)
	// End closes the stream: FIN/RST seen, idle timeout, or end of input.
	End(ts time.Time)
	// Ignored reports that the stream needs no more bytes (not HTTP, or
	// upgraded to another protocol); reassembly then skips its data cheaply.
	Ignored() bool
}

// Factory makes the Stream of each new connection.
type Factory interface {
	NewStream(c Conn) Stream
}
