package message

// Record flags: the anomalies a record's flags list names. Every flag is
// defined here once, whichever stage sets it; the README's table is
// generated from these comments (make generate).
const (
	// FlagAfterGap marks the first HTTP/1 half parsed after the parser
	// lost its place to a capture gap and found the next message start.
	FlagAfterGap = "after_gap"
	// FlagAfterParseError marks the first HTTP/1 half parsed after
	// malformed input was skipped.
	FlagAfterParseError = "after_parse_error"
	// FlagNonstandardRequestLine marks an HTTP/1 request line accepted only
	// by leniency (no target, no version, or an odd HTTP/1.x version).
	FlagNonstandardRequestLine = "nonstandard_request_line"
	// FlagMalformedHeader marks an HTTP/1 header block with a line that is
	// neither a field nor a continuation; the line is ignored.
	FlagMalformedHeader = "malformed_header"
	// FlagContentDecodeError marks an HTTP/1 body that did not decode with
	// its declared content coding; the body is left out and body_size
	// counts the encoded bytes.
	FlagContentDecodeError = "content_decode_error"
	// FlagUnsupportedEncoding marks an HTTP/1 body in a coding podtap
	// cannot decode; it is left out and body_size counts the encoded bytes.
	FlagUnsupportedEncoding = "unsupported_content_encoding"
	// FlagHPACKUnknown marks HTTP/2 header fields that could not be
	// resolved (the HPACK table entry was never seen).
	FlagHPACKUnknown = "hpack_unknown"
	// FlagLateJoin marks an HTTP/2 stream that started before the capture
	// saw it.
	FlagLateJoin = "late_join"
	// FlagReset marks an HTTP/2 stream that ended with RST_STREAM.
	FlagReset = "rst_stream"
	// FlagGRPCInferred marks gRPC told from the message framing, the
	// content-type being unresolvable.
	FlagGRPCInferred = "grpc_inferred"
	// FlagGRPCTruncated marks a body that ended inside a gRPC message,
	// which was left out.
	FlagGRPCTruncated = "grpc_truncated"
	// FlagBodyUndecoded marks an HTTP/2 body whose Content-Encoding could
	// not be undone; the body is kept as sent.
	FlagBodyUndecoded = "body_undecoded"
	// FlagGRPCUndecoded marks gRPC messages without a schema, kept raw
	// (base64).
	FlagGRPCUndecoded = "grpc_undecoded"
	// FlagGRPCDecodeError marks gRPC messages that did not fit the schema
	// found for them.
	FlagGRPCDecodeError = "grpc_decode_error"
	// FlagGRPCMethodInferred marks a call whose path was not seen (HPACK
	// could not resolve it) and whose service and method are the one
	// method of the server its messages fit.
	FlagGRPCMethodInferred = "grpc_method_inferred"
	// FlagBodyInvalidJSON, prefixed request_ or response_, marks a body
	// declared JSON that does not parse; it is emitted as text, or as
	// base64 when it is not UTF-8.
	FlagBodyInvalidJSON = "body_invalid_json"
	// FlagBodyInvalidForm, prefixed request_ or response_, marks a body
	// declared a form that does not parse; it is emitted as text, or as
	// base64 when it is not UTF-8.
	FlagBodyInvalidForm = "body_invalid_form"
	// FlagBodyBase64, prefixed request_ or response_, marks a binary body
	// emitted as base64.
	FlagBodyBase64 = "body_base64"
)
