package grpc

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/podtap/podtap/sidecar/bufpool"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/pbjson"
)

// errNoMethod means the schema's service has no such method: the server
// changed, or the path was never this service's.
var errNoMethod = errors.New("grpc: method not in the service's schema")

// schema is one service's descriptors and the types its messages may
// refer to (in google.protobuf.Any, or as extensions).
type schema struct {
	service protoreflect.ServiceDescriptor
	types   *types
	// json writes its messages as JSON, keeping what it compiles for each
	// message type.
	json *pbjson.Writer
}

// newSchema builds the schema of a service whose file and imports came
// from one source.
func newSchema(sd protoreflect.ServiceDescriptor) *schema {
	files := new(protoregistry.Files)
	registerFile(files, sd.ParentFile())
	return withTypes(sd, newTypes(files))
}

// withTypes is the schema of a service whose types t resolves.
func withTypes(sd protoreflect.ServiceDescriptor, t *types) *schema {
	return &schema{service: sd, types: t, json: pbjson.NewWriter(t)}
}

// registerFile adds fd after its imports. A file that clashes with one
// already registered is left out: its types resolve as unknown rather than
// the whole schema failing.
func registerFile(files *protoregistry.Files, fd protoreflect.FileDescriptor) {
	if _, err := files.FindFileByPath(fd.Path()); err == nil {
		return
	}
	imports := fd.Imports()
	for i := range imports.Len() {
		registerFile(files, imports.Get(i).FileDescriptor)
	}
	_ = files.RegisterFile(fd)
}

// decode turns a call's raw messages into protojson, the request's
// (input) and the response's (output), into g's RequestJSON and
// ResponseJSON. All the documents share one buffer, lent from the pool
// with g (see message.Pair.Release), and the two lists one array, g's room
// when a call has one message each way: a call's JSON costs no allocation
// in the steady state, whatever its messages.
func (s *schema) decode(g *message.GRPC) error {
	md := s.service.Methods().ByName(protoreflect.Name(g.Method))
	if md == nil {
		return fmt.Errorf("%w: %s/%s", errNoMethod, s.service.FullName(), g.Method)
	}
	reqs, resps := g.RequestMessages, g.ResponseMessages
	n := len(reqs) + len(resps)
	out := g.JSONRoom[:]
	if n > len(out) {
		out = make([][]byte, n)
	}
	out = out[:n]
	var buf []byte
	if n > 0 {
		buf = bufpool.Get(jsonSizeHint(reqs) + jsonSizeHint(resps))
	}
	buf, err := s.appendJSON(buf, out, md, md.Input(), reqs)
	if err == nil {
		buf, err = s.appendJSON(buf, out[len(reqs):], md, md.Output(), resps)
	}
	if err != nil {
		bufpool.Put(buf)
		clear(out)
		return err
	}
	// buf may have moved as it grew: point every document into its final
	// array, capped so that appending to one cannot overwrite the next.
	start := 0
	for i := range out {
		end := start + len(out[i])
		out[i] = buf[start:end:end]
		start = end
	}
	g.RequestJSON, g.ResponseJSON = out[:len(reqs):len(reqs)], out[len(reqs):]
	if buf != nil {
		g.JSONLent, g.ReleaseJSON = buf, bufpool.Put
	}
	return nil
}

// appendJSON appends the documents of msgs, messages of desc, to buf and
// sets docs[i] to message i's.
func (s *schema) appendJSON(buf []byte, docs [][]byte, md protoreflect.MethodDescriptor, desc protoreflect.MessageDescriptor, msgs [][]byte) ([]byte, error) {
	for i, b := range msgs {
		start := len(buf)
		var err error
		if buf, err = s.json.Append(buf, desc, b); err != nil {
			return buf, fmt.Errorf("grpc: message %d of %s as %s: %w", i, md.FullName(), desc.FullName(), err)
		}
		docs[i] = buf[start:]
	}
	return buf, nil
}

// jsonSizeHint guesses the JSON size of msgs, so that their documents
// mostly fit one allocation: names and quoting make JSON larger than the
// wire format, and base64 makes bytes a third larger. Small messages
// grow most (a 1-byte tag becomes a quoted name, an 8-byte Timestamp a
// 24-byte string), which the constant term covers.
func jsonSizeHint(msgs [][]byte) int {
	n := 0
	for _, b := range msgs {
		n += 2*len(b) + 64
	}
	return n
}

// types resolves message and extension types from a schema's own files
// first, then from those compiled into podtap (the well-known types).
type types struct {
	local *dynamicpb.Types
}

func newTypes(files *protoregistry.Files) *types {
	return &types{local: dynamicpb.NewTypes(files)}
}

func (t *types) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	if mt, err := t.local.FindMessageByName(name); err == nil {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

func (t *types) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	if mt, err := t.local.FindMessageByURL(url); err == nil {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByURL(url)
}

func (t *types) FindExtensionByName(name protoreflect.FullName) (protoreflect.ExtensionType, error) {
	if xt, err := t.local.FindExtensionByName(name); err == nil {
		return xt, nil
	}
	return protoregistry.GlobalTypes.FindExtensionByName(name)
}

func (t *types) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	if xt, err := t.local.FindExtensionByNumber(message, field); err == nil {
		return xt, nil
	}
	return protoregistry.GlobalTypes.FindExtensionByNumber(message, field)
}
