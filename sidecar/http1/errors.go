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

func countParseError(kind string) {
	metrics.ParseErrors.WithLabelValues("http1", kind).Inc()
}
