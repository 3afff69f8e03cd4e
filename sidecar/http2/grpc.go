package http2

import (
	"slices"
	"strings"

	"github.com/podtap/podtap/sidecar/grpcwire"
	"github.com/podtap/podtap/sidecar/message"
)

// isGRPC reports a gRPC content type: application/grpc, alone or with a
// +suffix naming the message format (gRPC-Web is another protocol).
func isGRPC(ct string) bool {
	mt := message.MediaType(ct)
	return mt == "application/grpc" || strings.HasPrefix(mt, "application/grpc+")
}

// inferGRPC decides a stream is gRPC when late join hid its content type:
// a POST whose kept bodies are exact runs of gRPC length-prefixed
// messages. Random bodies almost never are.
func (c *Parser) inferGRPC(st *stream) {
	if st.grpc || st.req == nil || st.req.Method != "POST" || st.req.ContentType != "" {
		return
	}
	if !slices.Contains(st.req.Flags, message.FlagHPACKUnknown) || (st.resp != nil && st.resp.ContentType != "") {
		return
	}
	framed := 0
	for _, b := range [2][]byte{st.in.body, st.out.body} {
		if len(b) == 0 {
			continue
		}
		if !grpcwire.Framed(b) {
			return
		}
		framed++
	}
	if framed == 0 {
		return
	}
	st.grpc = true
	st.req.Proto = message.ProtoGRPC
	st.req.Flags = append(st.req.Flags, message.FlagGRPCInferred)
	if st.resp != nil {
		st.resp.Proto = message.ProtoGRPC
	}
}
