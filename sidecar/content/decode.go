// Package content decodes HTTP message bodies: the Content-Encoding (and
// non-chunked Transfer-Encoding) codings servers and clients apply, and the
// media type that decides how a body is presented. HTTP/1 and HTTP/2 parsers
// share it, so both decode the same way and honour the same size limit.
package content

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrTooLarge means the decoded body would exceed the caller's limit;
	// the message is dropped as too_large rather than kept in part.
	ErrTooLarge = errors.New("content: decoded body exceeds the size limit")
	// ErrUnknownEncoding means a coding this package cannot decode.
	ErrUnknownEncoding = errors.New("content: unsupported content coding")
	// ErrCorrupt means the body does not decode with its declared coding,
	// typically because it was cut short or is not what the header says.
	ErrCorrupt = errors.New("content: corrupt encoded body")
)

// Decode undoes the codings listed in encoding (a Content-Encoding value
// such as "gzip" or "gzip, br"), last applied first. The result never holds
// more than limit bytes: past it Decode returns ErrTooLarge. Unknown codings
// return ErrUnknownEncoding and undecodable input ErrCorrupt, both wrapped
// with the coding's name. With no coding but identity, body itself is
// returned, not a copy.
func Decode(encoding string, body []byte, limit int) ([]byte, error) {
	limit = max(limit, 0)
	out := body
	rest := encoding
	for rest != "" {
		var coding string
		if i := strings.LastIndexByte(rest, ','); i >= 0 {
			coding, rest = rest[i+1:], rest[:i]
		} else {
			coding, rest = rest, ""
		}
		coding = strings.Trim(coding, " \t")
		if coding == "" || strings.EqualFold(coding, "identity") {
			continue
		}
		dec, ok := lookup(coding)
		if ok && len(out) == 0 {
			// An empty body is empty in every coding; servers send
			// "Content-Encoding: gzip" with zero bytes.
			continue
		}
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrUnknownEncoding, coding)
		}
		var err error
		if out, err = dec(out, limit); err != nil {
			return nil, fmt.Errorf("decode %s body: %w", strings.ToLower(coding), err)
		}
	}
	if len(out) > limit {
		return nil, ErrTooLarge
	}
	return out, nil
}

// Known reports whether every coding in encoding can be decoded, so a
// parser can decide from the headers alone how to keep a body.
func Known(encoding string) bool {
	for coding := range strings.SplitSeq(encoding, ",") {
		coding = strings.Trim(coding, " \t")
		if coding == "" || strings.EqualFold(coding, "identity") {
			continue
		}
		if _, ok := lookup(coding); !ok {
			return false
		}
	}
	return true
}

// Identity reports whether encoding leaves the body as is.
func Identity(encoding string) bool {
	for coding := range strings.SplitSeq(encoding, ",") {
		coding = strings.Trim(coding, " \t")
		if coding != "" && !strings.EqualFold(coding, "identity") {
			return false
		}
	}
	return true
}

func lookup(coding string) (func([]byte, int) ([]byte, error), bool) {
	switch {
	case strings.EqualFold(coding, "gzip"), strings.EqualFold(coding, "x-gzip"):
		return gunzip, true
	case strings.EqualFold(coding, "deflate"):
		return inflate, true
	case strings.EqualFold(coding, "br"):
		return unbrotli, true
	case strings.EqualFold(coding, "zstd"):
		return unzstd, true
	}
	return nil, false
}
