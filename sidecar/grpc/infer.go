package grpc

import (
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/pbjson"
)

// FlagMethodInferred is set on pairs whose method was inferred.
const FlagMethodInferred = message.FlagGRPCMethodInferred

// Outcomes of method inference, as podtap_grpc_method_inference_total
// counts them.
const (
	// inferred: exactly one method fits.
	inferred = "inferred"
	// ambiguous: several methods fit; none is chosen.
	ambiguous = "ambiguous"
	// noFit: no method of the server fits.
	noFit = "none"
	// noSchema: the server's services are not to be had.
	noSchema = "no_schema"
)

// flagTruncated is message.FlagGRPCTruncated (the http2 package imports this
// one): the half's body ended inside a message, left out, so its messages
// are only the first ones.
const flagTruncated = "grpc_truncated"

// inference is the method chosen for a call.
type inference struct {
	schema *schema
	method protoreflect.MethodDescriptor
}

// half is the request or the response of a call, as evidence of its method.
type half struct {
	msgs [][]byte
	// partial: the call's status is not OK or not known (HPACK may have
	// hidden it too), or the body was cut, so fewer messages than the
	// method sends may have been seen.
	partial bool
	// fits remembers, per message type, whether the messages decode as it:
	// many methods share their types.
	fits map[protoreflect.MessageDescriptor]bool
}

// infer finds the one method of c that p's call fits: each request
// message decodes strictly (no error, no unknown field at any depth) as
// its input type, each response message as its output type, and the
// message counts suit its streaming kinds. Decoding is the only evidence
// there is, and protobuf's wire format lets one message decode as many
// types, so several fitting methods are reported ambiguous, never guessed
// between.
func (c *catalog) infer(p *message.Pair) (inference, string) {
	g := p.GRPC
	ended := g.HasStatus && g.StatusCode == 0
	req := half{msgs: g.RequestMessages, fits: map[protoreflect.MessageDescriptor]bool{}}
	resp := half{msgs: g.ResponseMessages, fits: map[protoreflect.MessageDescriptor]bool{}}
	req.partial = !ended || (p.Request != nil && slices.Contains(p.Request.Flags, flagTruncated))
	resp.partial = !ended || (p.Response != nil && slices.Contains(p.Response.Flags, flagTruncated))
	var found inference
	for _, s := range c.services {
		methods := s.service.Methods()
		for i := range methods.Len() {
			md := methods.Get(i)
			if !req.counts(md.IsStreamingClient()) || !resp.counts(md.IsStreamingServer()) {
				continue
			}
			if !req.fit(md.Input(), s.types) || !resp.fit(md.Output(), s.types) {
				continue
			}
			if found.method != nil {
				return inference{}, ambiguous
			}
			found = inference{schema: s, method: md}
		}
	}
	if found.method == nil {
		return inference{}, noFit
	}
	return found, inferred
}

// counts says whether the half's message count suits a streaming or a
// single-message half: exactly one for a single message, except that a
// call that failed or was cut may have sent none.
func (s *half) counts(streaming bool) bool {
	switch len(s.msgs) {
	case 0:
		return streaming || s.partial
	case 1:
		return true
	}
	return streaming
}

// fit says whether every message decodes strictly as md.
func (s *half) fit(md protoreflect.MessageDescriptor, t *types) bool {
	if ok, seen := s.fits[md]; seen {
		return ok
	}
	ok := true
	for _, b := range s.msgs {
		if !decodesAs(b, md, t) {
			ok = false
			break
		}
	}
	s.fits[md] = ok
	return ok
}

// decodesAs says whether b is an md with nothing left over: a field
// number md lacks, or one sent with another wire type, is kept as an
// unknown field, and is the sign that b is some other type.
func decodesAs(b []byte, md protoreflect.MessageDescriptor, t *types) bool {
	m, err := pbjson.Unmarshal(b, md, t)
	if err != nil {
		return false
	}
	return !hasUnknown(m)
}

// hasUnknown says whether m or a message inside it holds unknown fields.
func hasUnknown(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return true
	}
	unknown := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					unknown = hasUnknown(mv.Message())
					return !unknown
				})
			}
		case fd.Message() == nil:
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && !unknown; i++ {
				unknown = hasUnknown(l.Get(i).Message())
			}
		default:
			unknown = hasUnknown(v.Message())
		}
		return !unknown
	})
	return unknown
}
