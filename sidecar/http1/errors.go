package http1

import "github.com/podtap/podtap/sidecar/metrics"

// Kinds of podtap_parse_errors_total{protocol="http1"}.
const (
	kindRequestLine      = "request_line"      // not a request line where one must start
	kindStatusLine       = "status_line"       // not a status line where one must start
	kindHeaderTooLarge   = "header_too_large"  // header block or trailers over limits.max_header_bytes
	kindContentLength    = "content_length"    // unparsable or conflicting Content-Length
	kindTransferEncoding = "transfer_encoding" // a request whose Transfer-Encoding does not end in chunked
	kindChunk            = "chunk"             // a bad chunk-size line or a chunk not followed by CRLF
)

// Flags set on halves, kept in the record.
const (
	// FlagAfterGap marks the first half parsed after the parser lost its
	// place to a capture gap and found the next message start again.
	FlagAfterGap = "after_gap"
	// FlagAfterParseError marks the first half parsed after malformed
	// input was skipped.
	FlagAfterParseError = "after_parse_error"
	// FlagNonstandardRequestLine marks a request line accepted only by
	// leniency (no target, no version, or an odd HTTP/1.x version).
	FlagNonstandardRequestLine = "nonstandard_request_line"
	// FlagMalformedHeader marks a header block with a line that is neither
	// a field nor a continuation; the line is ignored.
	FlagMalformedHeader = "malformed_header"
	// FlagDecodeError marks a body that did not decode with its declared
	// content coding; Body is nil and BodySize counts the encoded bytes.
	FlagDecodeError = "content_decode_error"
	// FlagUnsupportedEncoding marks a body in a coding podtap cannot
	// decode; it is not kept, and BodySize counts the encoded bytes.
	FlagUnsupportedEncoding = "unsupported_content_encoding"
)

func countParseError(kind string) {
	metrics.ParseErrors.WithLabelValues("http1", kind).Inc()
}
