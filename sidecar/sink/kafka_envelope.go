package sink

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A spooled record keeps what Kafka will need, as it was when written: a
// restart with another pod name or a newer schema must not rewrite the key
// or the headers of records already captured. The layout is a version
// byte, then uvarint-length-prefixed key, header count, header names and
// values, and the value as the rest. The record time is the spool's own.
const envelopeV1 = 1

func appendEnvelope(dst []byte, r *kgo.Record) []byte {
	dst = append(dst, envelopeV1)
	dst = appendBytes(dst, r.Key)
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = appendBytes(dst, []byte(h.Key))
		dst = appendBytes(dst, h.Value)
	}
	return append(dst, r.Value...)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

var errEnvelope = errors.New("malformed spooled record")

// parseEnvelope rebuilds the record; its slices alias b.
func parseEnvelope(b []byte) (*kgo.Record, error) {
	if len(b) == 0 || b[0] != envelopeV1 {
		return nil, fmt.Errorf("%w: unknown version", errEnvelope)
	}
	b = b[1:]
	r := &kgo.Record{}
	var ok bool
	if r.Key, b, ok = cutBytes(b); !ok {
		return nil, fmt.Errorf("%w: key", errEnvelope)
	}
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)) {
		return nil, fmt.Errorf("%w: header count", errEnvelope)
	}
	b = b[w:]
	r.Headers = make([]kgo.RecordHeader, n)
	for i := range r.Headers {
		var k, v []byte
		if k, b, ok = cutBytes(b); !ok {
			return nil, fmt.Errorf("%w: header name", errEnvelope)
		}
		if v, b, ok = cutBytes(b); !ok {
			return nil, fmt.Errorf("%w: header value", errEnvelope)
		}
		r.Headers[i] = kgo.RecordHeader{Key: string(k), Value: v}
	}
	r.Value = b
	return r, nil
}

func cutBytes(b []byte) (field, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, false
	}
	end := w + int(n)
	return b[w:end:end], b[end:], true
}
