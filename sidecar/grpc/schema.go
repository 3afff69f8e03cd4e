package grpc

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// errNoMethod means the schema's service has no such method: the server
// changed, or the path was never this service's.
var errNoMethod = errors.New("grpc: method not in the service's schema")

// schema is one service's descriptors and the types its messages may
// refer to (in google.protobuf.Any, or as extensions).
type schema struct {
	service protoreflect.ServiceDescriptor
	types   *types
}

// newSchema builds the schema of a service whose file and imports came
// from one source.
func newSchema(sd protoreflect.ServiceDescriptor) *schema {
	files := new(protoregistry.Files)
	registerFile(files, sd.ParentFile())
	return &schema{service: sd, types: newTypes(files)}
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

// decode turns a method's raw messages into protojson, the request's
// (input) or the response's.
func (s *schema) decode(method string, msgs [][]byte, input bool) ([][]byte, error) {
	md := s.service.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		return nil, fmt.Errorf("%w: %s/%s", errNoMethod, s.service.FullName(), method)
	}
	desc := md.Output()
	if input {
		desc = md.Input()
	}
	unmarshal := proto.UnmarshalOptions{Resolver: s.types}
	marshal := protojson.MarshalOptions{Resolver: s.types}
	out := make([][]byte, len(msgs))
	for i, b := range msgs {
		m := dynamicpb.NewMessage(desc)
		if err := unmarshal.Unmarshal(b, m); err != nil {
			return nil, fmt.Errorf("grpc: message %d of %s is not a %s: %w", i, md.FullName(), desc.FullName(), err)
		}
		j, err := marshal.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("grpc: message %d of %s to JSON: %w", i, md.FullName(), err)
		}
		out[i] = j
	}
	return out, nil
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
