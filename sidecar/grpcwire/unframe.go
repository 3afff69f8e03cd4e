// Package grpcwire reads gRPC's wire framing: the length-prefixed messages
// of a gRPC body, and their per-message compression. The HTTP/2 parser
// uses it to unframe the bodies of gRPC streams and to recognise them when
// their content type was not seen.
package grpcwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/podtap/podtap/sidecar/content"
)

var (
	// ErrEncoding means a message is compressed with a grpc-encoding this
	// package does not decode; the pair is dropped (grpc_encoding).
	ErrEncoding = errors.New("grpcwire: unsupported grpc-encoding")
	// ErrTooLarge means the messages exceed the size limit.
	ErrTooLarge = errors.New("grpcwire: messages exceed the size limit")
	// ErrMalformed means the body is not valid gRPC framing: a bad flag
	// byte, a compressed message without an encoding, or a message that
	// does not decompress.
	ErrMalformed = errors.New("grpcwire: malformed message")
	// ErrTruncated means the body ends inside a message; the complete
	// messages before it are returned with it.
	ErrTruncated = errors.New("grpcwire: body ends inside a message")
)

// prefixLen is the length-prefixed message header: a compressed flag and a
// big-endian uint32 length.
const prefixLen = 5

// FrameLen is the wire size of b's first message, prefix included, as its
// prefix announces it; ok is false when b is shorter than a prefix.
func FrameLen(b []byte) (n int, ok bool) {
	if len(b) < prefixLen {
		return 0, false
	}
	return prefixLen + int(binary.BigEndian.Uint32(b[1:prefixLen])), true
}

// cut takes the first message off b: its flag byte (1: compressed), its
// bytes, sharing b's memory, and the rest of b. ok is false when b ends
// inside the message or its prefix.
func cut(b []byte) (flag byte, m, rest []byte, ok bool) {
	end, ok := FrameLen(b)
	if !ok || end > len(b) {
		return 0, nil, b, false
	}
	return b[0], b[prefixLen:end:end], b[end:], true
}

// Framed reports whether b is exactly a run of gRPC messages, each with a
// valid flag byte. Random bytes almost never are.
func Framed(b []byte) bool {
	for len(b) > 0 {
		flag, _, rest, ok := cut(b)
		if !ok || flag > 1 {
			return false
		}
		b = rest
	}
	return true
}

// Unframe splits a gRPC body into its length-prefixed messages, undoing
// the per-message compression of those flagged compressed with encoding
// (the grpc-encoding header of the same half). Uncompressed messages
// share body's memory. The messages together may hold at most limit bytes.
// They are appended to dst[:0], whose room a caller may have allocated
// with something else.
func Unframe(dst [][]byte, body []byte, encoding string, limit int) ([][]byte, error) {
	count := 0
	for p, ok := body, true; ok && len(p) > 0; count++ {
		_, _, p, ok = cut(p)
	}
	msgs := slices.Grow(dst[:0], count)
	total := 0
	for len(body) > 0 {
		flag, m, rest, ok := cut(body)
		if !ok {
			return msgs, ErrTruncated
		}
		body = rest
		switch flag {
		case 0:
		case 1:
			var err error
			if m, err = decompress(encoding, m, limit-total); err != nil {
				return msgs, err
			}
		default:
			return msgs, fmt.Errorf("%w: flag byte %d", ErrMalformed, flag)
		}
		total += len(m)
		if total > limit {
			return msgs, ErrTooLarge
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// decompress undoes one message's compression. gzip and deflate are the
// encodings gRPC defines that HTTP shares, decoded by the content package.
func decompress(encoding string, m []byte, limit int) ([]byte, error) {
	enc := strings.ToLower(strings.TrimSpace(encoding))
	switch enc {
	case "gzip", "deflate":
	case "", "identity":
		return nil, fmt.Errorf("%w: compressed message without grpc-encoding", ErrMalformed)
	default:
		return nil, fmt.Errorf("%w: %q", ErrEncoding, encoding)
	}
	out, err := content.Decode(enc, m, max(limit, 0))
	switch {
	case errors.Is(err, content.ErrTooLarge):
		return nil, ErrTooLarge
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return out, nil
}
