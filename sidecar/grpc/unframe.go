package grpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/podtap/podtap/sidecar/content"
)

var (
	// ErrEncoding means a message is compressed with a grpc-encoding this
	// package does not decode; the pair is dropped (grpc_encoding).
	ErrEncoding = errors.New("grpc: unsupported grpc-encoding")
	// ErrTooLarge means the messages exceed the size limit.
	ErrTooLarge = errors.New("grpc: messages exceed the size limit")
	// ErrMalformed means the body is not valid gRPC framing: a bad flag
	// byte, a compressed message without an encoding, or a message that
	// does not decompress.
	ErrMalformed = errors.New("grpc: malformed message")
	// ErrTruncated means the body ends inside a message; the complete
	// messages before it are returned with it.
	ErrTruncated = errors.New("grpc: body ends inside a message")
)

// prefixLen is the length-prefixed message header: a compressed flag and a
// big-endian uint32 length.
const prefixLen = 5

// Unframe splits a gRPC body into its length-prefixed messages, undoing
// the per-message compression of those flagged compressed with encoding
// (the grpc-encoding header of the same direction). Uncompressed messages
// share body's memory. The messages together may hold at most limit bytes.
func Unframe(body []byte, encoding string, limit int) ([][]byte, error) {
	count := 0
	for p := body; len(p) >= prefixLen; count++ {
		n := int(binary.BigEndian.Uint32(p[1:prefixLen]))
		if n > len(p)-prefixLen {
			count++
			break
		}
		p = p[prefixLen+n:]
	}
	msgs := make([][]byte, 0, count)
	total := 0
	for len(body) > 0 {
		if len(body) < prefixLen {
			return msgs, ErrTruncated
		}
		flag := body[0]
		n := int(binary.BigEndian.Uint32(body[1:prefixLen]))
		if n > len(body)-prefixLen {
			return msgs, ErrTruncated
		}
		m := body[prefixLen : prefixLen+n : prefixLen+n]
		body = body[prefixLen+n:]
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
