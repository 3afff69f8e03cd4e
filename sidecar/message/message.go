// Package message is the vocabulary the pipeline stages pass along: the
// connection and its sides that flow delivers, the request and response
// halves the parsers produce, and the pair that the later stages filter,
// enrich, encode and sink. It holds data and small helpers on it, and
// imports nothing of podtap's own.
package message

import (
	"net/netip"
	"time"
)

// Endpoint is one end of a TCP connection.
type Endpoint struct {
	IP   netip.Addr
	Port uint16
}

// Side is one side of a connection, the bytes one end sends: AtoB is the
// bytes Conn.A sends to Conn.B. A is the end that sent the SYN when the
// handshake was seen, and otherwise the source of the first packet seen;
// the parse stage decides which end is the HTTP client from the bytes
// themselves.
type Side uint8

const (
	AtoB Side = 0
	BtoA Side = 1
)

// Reverse returns the other side.
func (d Side) Reverse() Side { return 1 - d }

// Conn identifies a TCP connection.
type Conn struct {
	A, B Endpoint
	// SawSYN reports whether the handshake's SYN was captured, so A is
	// known to be the client.
	SawSYN bool
	Tunnel Tunnel
	// TLSLibrary names the TLS library whose plaintext this is, when the
	// bytes come from TLS capture rather than packets; "" otherwise.
	TLSLibrary string
}

// Tunnel is how a mirrored connection reached the capture. The zero value
// is none: packets seen on the pod's own interface.
type Tunnel struct {
	// VXLAN reports a connection decapsulated from VXLAN, VNI its network.
	VXLAN bool
	VNI   uint32
}

// Header is one header field in wire order. Name is lower-cased.
type Header struct {
	Name  string
	Value string
}

// Headers is a header block in wire order.
type Headers []Header

// Get returns the first value of the lower-case name, or "".
func (h Headers) Get(name string) string {
	for _, f := range h {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// Has reports whether the lower-case name is present.
func (h Headers) Has(name string) bool {
	for _, f := range h {
		if f.Name == name {
			return true
		}
	}
	return false
}

// InternalHeader marks podtap's own requests (gRPC reflection lookups), so
// that the sidecar, which captures them too, drops them as internal.
const InternalHeader = "x-podtap-request"

// Protocols, as the record schema names them.
const (
	ProtoHTTP10 = "http/1.0"
	ProtoHTTP11 = "http/1.1"
	ProtoH2     = "h2"
	ProtoGRPC   = "grpc"
)

// Request is a parsed request half.
type Request struct {
	Proto     string // ProtoHTTP10, ProtoHTTP11 or ProtoH2
	Method    string
	Path      string // without the query string
	Query     string // without '?'
	Authority string // Host or :authority
	Headers   Headers
	Trailers  Headers
	// ContentType is the Content-Type header as sent.
	ContentType string
	// Body is the decoded body (de-chunked, content-decoded), nil when
	// empty or not kept. BodySize counts the decoded bytes even when the
	// body was not kept.
	Body      []byte
	BodySize  int64
	Truncated bool
	// Lent, when ReleaseBody is set, is the buffer the parser lent from a
	// pool of its own that Body or Messages point into; Pair.Release hands
	// it to ReleaseBody for reuse.
	Lent        []byte
	ReleaseBody func([]byte)
	// Start is the capture time of the first byte, End of the last.
	Start, End time.Time
	// StreamID is the HTTP/2 stream; 0 for HTTP/1.
	StreamID uint32
	// Messages are the gRPC messages of the body (Proto is ProtoGRPC),
	// unframed and decompressed; Body is then nil.
	Messages [][]byte
	// Drop is the reason this message's pair will be dropped, decided
	// early (e.g. too_large, internal); "" keeps it.
	Drop string
	// Flags note anomalies kept in the record, e.g. "after_gap".
	Flags []string
	// Answered is set by the parser once the response's headers arrived:
	// pairing then waits for the response's end however long it takes
	// (long polling, streaming) instead of timing the request out.
	Answered bool
}

// Response is a parsed final response half (1xx interim responses are
// folded into it as Interim).
type Response struct {
	Proto       string
	Status      int
	Headers     Headers
	Trailers    Headers
	ContentType string
	Body        []byte
	BodySize    int64
	Truncated   bool
	// Lent and ReleaseBody are as on Request.
	Lent        []byte
	ReleaseBody func([]byte)
	Start, End  time.Time
	StreamID    uint32
	// Messages are the gRPC messages of the body, as on Request.
	Messages [][]byte
	// Interim lists the 1xx statuses seen before the final one.
	Interim []int
	Drop    string
	Flags   []string
	// AfterGap is set when bytes were lost on the response side
	// since the previous response: pairing must not trust FIFO order.
	AfterGap bool
}

// GRPC is the gRPC view of a pair.
type GRPC struct {
	Service string
	Method  string
	// StatusCode is grpc-status; HasStatus is false when no trailers came.
	StatusCode    int
	HasStatus     bool
	StatusMessage string
	// Encoding is grpc-encoding of the messages ("" or "identity" when
	// uncompressed).
	Encoding string
	// RequestMessages and ResponseMessages are the raw protobuf messages,
	// already unframed and decompressed.
	RequestMessages  [][]byte
	ResponseMessages [][]byte
	// RequestJSON and ResponseJSON are the messages decoded to JSON by the
	// enrich stage; nil until then.
	RequestJSON  [][]byte
	ResponseJSON [][]byte
	// JSONRoom is the lists' room when a call has one message each way,
	// as most have, so that decoding them makes no list of its own.
	JSONRoom [2][]byte
	// JSONLent, when ReleaseJSON is set, is the buffer the enrich stage
	// lent from a pool of its own that the documents point into;
	// Pair.Release hands it to ReleaseJSON for reuse.
	JSONLent    []byte
	ReleaseJSON func([]byte)
}

// Direction of a pair relative to the captured pod.
const (
	Inbound  = "inbound"
	Outbound = "outbound"
	Unknown  = "unknown"
)

// Pair is one request with its response.
type Pair struct {
	ID        string
	Protocol  string
	Client    Endpoint
	Server    Endpoint
	Direction string
	// Tunnel is the connection's (see Conn).
	Tunnel Tunnel
	// Pod, when set, is the pod this record is about, found from the
	// pair's addresses by the central receiver; it replaces the capturing
	// pod's own fields (config.Pod) in the record.
	Pod      *PodRef
	Request  *Request
	Response *Response
	GRPC     *GRPC
	// Redacted lists where values were masked, e.g.
	// request.headers.authorization.
	Redacted []string
	// Flags note anomalies, e.g. "hpack_unknown", "body_invalid_json".
	Flags []string
	// Sensitive lists the values classified by type, one entry per path
	// and type (array elements collapsed); the encoder fills it.
	Sensitive []Finding
	// TLSLibrary is the connection's message.Conn.TLSLibrary.
	TLSLibrary string
}

// PodRef names a Kubernetes pod at one end of a pair.
type PodRef struct {
	Name, Namespace string
	// IP is the pod's address the pair used.
	IP string
	// Workload is the owning workload, e.g. Deployment/checkout; empty
	// for a pod no controller owns.
	Workload string
}

// Finding is a classified value: where it is in the record, e.g.
// request.body.items[].email, and its type, e.g. email.
type Finding struct {
	Path string
	Type string
}

// Size is the pair's bytes as limits.max_pair_bytes counts them: the
// request and the response as the parsers kept them, not the record they
// become (whose JSON escaping and base64 of binary bodies kafka.max_record_bytes
// bounds). Each half counts its body as kept (de-chunked, content-decoded)
// or its gRPC messages (unframed, decompressed), and each header and trailer
// field as its name, its value and 4 bytes, the ": " and CRLF of HTTP/1; the
// request adds its method, path, query and authority. Start lines and
// chunk framing are not counted.
func (p *Pair) Size() int64 {
	var n int64
	add := func(h Headers) {
		for _, f := range h {
			n += int64(len(f.Name) + len(f.Value) + 4)
		}
	}
	msgs := func(m [][]byte) {
		for _, b := range m {
			n += int64(len(b))
		}
	}
	if r := p.Request; r != nil {
		n += int64(len(r.Body) + len(r.Method) + len(r.Path) + len(r.Query) + len(r.Authority))
		add(r.Headers)
		add(r.Trailers)
		msgs(r.Messages)
	}
	if r := p.Response; r != nil {
		n += int64(len(r.Body))
		add(r.Headers)
		add(r.Trailers)
		msgs(r.Messages)
	}
	return n
}

// Release gives the buffers the pair was lent (its halves' bodies or
// gRPC messages, its JSON documents) back to the stages that lent them, and
// clears what pointed into them. The caller must be the pair's last user:
// the pipeline calls it once the pair is encoded, when the record holds a
// copy of everything the pair said.
func (p *Pair) Release() {
	g := p.GRPC
	if r := p.Request; r != nil && r.ReleaseBody != nil {
		r.ReleaseBody(r.Lent)
		r.Body, r.Messages, r.Lent, r.ReleaseBody = nil, nil, nil, nil
		if g != nil {
			g.RequestMessages = nil
		}
	}
	if r := p.Response; r != nil && r.ReleaseBody != nil {
		r.ReleaseBody(r.Lent)
		r.Body, r.Messages, r.Lent, r.ReleaseBody = nil, nil, nil, nil
		if g != nil {
			g.ResponseMessages = nil
		}
	}
	if g != nil && g.ReleaseJSON != nil {
		g.ReleaseJSON(g.JSONLent)
		g.RequestJSON, g.ResponseJSON, g.JSONRoom, g.JSONLent, g.ReleaseJSON = nil, nil, [2][]byte{}, nil, nil
	}
}

// Judge decides early, from headers alone, whether a pair will be dropped,
// so that parsers skip the bodies of dropped messages instead of keeping
// them. The filter stage implements it; it returns "" to keep.
type Judge interface {
	JudgeRequest(r *Request) string
	JudgeResponse(req *Request, resp *Response) string
}

// KeepAll is the Judge that never drops, for parsers used without a
// filter.
type KeepAll struct{}

func (KeepAll) JudgeRequest(*Request) string             { return "" }
func (KeepAll) JudgeResponse(*Request, *Response) string { return "" }

// Halves receives what a protocol parser makes of one connection: request
// and response halves, in capture order. The pair stage implements it. A
// half the parser could not read (malformed, cut by a gap) is still handed
// on, with Drop set, so that pairing stays aligned and the loss is counted.
type Halves interface {
	Request(r *Request)
	Response(r *Response)
}
