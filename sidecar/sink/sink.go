// Package sink delivers encoded pairs: stdout, a file, or Kafka.
package sink

import "context"

// Record is one encoded pair on its way out.
type Record struct {
	// Value is the pair's JSON (pair.schema.json), without a newline.
	Value []byte
	// Protocol is the pair's protocol, for Kafka's record header.
	Protocol string
}

// Sink delivers records. Write never blocks capture for long: a sink that
// cannot keep up spools or drops, and counts each drop by reason.
// Implementations are safe for concurrent use.
type Sink interface {
	// Write takes ownership of r.Value.
	Write(r Record)
	// Ready reports whether the sink can deliver now; /readyz serves it.
	Ready() error
	// Close flushes what is queued, within ctx's deadline, and releases
	// the sink. Records it could not deliver are counted as dropped.
	Close(ctx context.Context) error
}

// Copying is implemented by sinks whose Write is done with r.Value when it
// returns (it copied the bytes): the caller then keeps the buffer and may
// reuse it for the next record, instead of allocating one per record.
type Copying interface {
	CopiesValue() bool
}
