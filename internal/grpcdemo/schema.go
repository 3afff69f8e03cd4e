// Package grpcdemo is a real gRPC service for the demo and the live tests:
// a greeter with unary, server-, client- and bidi-streaming methods and
// error statuses, served by grpc-go with server reflection (v1, v1alpha,
// both or none), and optionally a catalog whose methods, unlike the
// greeter's, each have their own message types. Its schema is built in
// Go, as protoc is not needed to run podtap's tests, and its messages are
// dynamicpb messages.
package grpcdemo

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Names of the service and its methods.
const (
	Service       = "podtap.demo.v1.Greeter"
	SayHello      = "SayHello"
	StreamReplies = "StreamReplies"
	CollectNames  = "CollectNames"
	Chat          = "Chat"
	fileName      = "podtap/demo/v1/greeter.proto"
)

// Schema is the service's descriptors.
type Schema struct {
	File    protoreflect.FileDescriptor
	Service protoreflect.ServiceDescriptor
	Request protoreflect.MessageDescriptor // HelloRequest
	Reply   protoreflect.MessageDescriptor // HelloReply
	// Catalog is the second service, served with ServerOptions.Catalog.
	Catalog *Catalog
	// Files holds both files and their import, for a reflection server.
	Files *protoregistry.Files
}

// NewSchema builds the schema of greeter.proto:
//
//	syntax = "proto3";
//	package podtap.demo.v1;
//	import "google/protobuf/timestamp.proto";
//	enum Kind { KIND_UNSPECIFIED = 0; KIND_GREETING = 1; KIND_FAREWELL = 2; }
//	message HelloRequest { string name = 1; int32 times = 2; bytes blob = 3; repeated string tags = 4; }
//	message HelloReply { string message = 1; int32 index = 2; google.protobuf.Timestamp at = 3; Kind kind = 4; bytes blob = 5; }
//	service Greeter {
//	  rpc SayHello(HelloRequest) returns (HelloReply);
//	  rpc StreamReplies(HelloRequest) returns (stream HelloReply);
//	  rpc CollectNames(stream HelloRequest) returns (HelloReply);
//	  rpc Chat(stream HelloRequest) returns (stream HelloReply);
//	}
func NewSchema() (*Schema, error) {
	fd, err := protodesc.NewFile(fileProto(), protoregistry.GlobalFiles)
	if err != nil {
		return nil, fmt.Errorf("grpcdemo: building the schema: %w", err)
	}
	files := new(protoregistry.Files)
	if err := files.RegisterFile(timestamppb.File_google_protobuf_timestamp_proto); err != nil {
		return nil, fmt.Errorf("grpcdemo: %w", err)
	}
	if err := files.RegisterFile(fd); err != nil {
		return nil, fmt.Errorf("grpcdemo: %w", err)
	}
	catalog, err := newCatalog(files)
	if err != nil {
		return nil, err
	}
	return &Schema{
		File:    fd,
		Service: fd.Services().ByName("Greeter"),
		Request: fd.Messages().ByName("HelloRequest"),
		Reply:   fd.Messages().ByName("HelloReply"),
		Catalog: catalog,
		Files:   files,
	}, nil
}

// DescriptorSet returns the schema, greeter and catalog, as a serialized
// FileDescriptorSet (a protoset), with their import when withImports is
// set, as `protoc --include_imports --descriptor_set_out` writes it.
func (s *Schema) DescriptorSet(withImports bool) ([]byte, error) {
	set := &descriptorpb.FileDescriptorSet{}
	if withImports {
		set.File = append(set.File, protodesc.ToFileDescriptorProto(timestamppb.File_google_protobuf_timestamp_proto))
	}
	set.File = append(set.File, protodesc.ToFileDescriptorProto(s.File), protodesc.ToFileDescriptorProto(s.Catalog.File))
	b, err := proto.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("grpcdemo: %w", err)
	}
	return b, nil
}

// field describes a message field.
func field(name string, num int32, typ descriptorpb.FieldDescriptorProto_Type, typeName string, repeated bool) *descriptorpb.FieldDescriptorProto {
	label := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
	if repeated {
		label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	}
	f := &descriptorpb.FieldDescriptorProto{
		Name: proto.String(name), Number: proto.Int32(num), Type: typ.Enum(), Label: label.Enum(),
		JsonName: proto.String(jsonName(name)),
	}
	if typeName != "" {
		f.TypeName = proto.String(typeName)
	}
	return f
}

// rpc describes a method of the podtap.demo.v1 package.
func rpc(name, input, output string, clientStreams, serverStreams bool) *descriptorpb.MethodDescriptorProto {
	return &descriptorpb.MethodDescriptorProto{
		Name:            proto.String(name),
		InputType:       proto.String(".podtap.demo.v1." + input),
		OutputType:      proto.String(".podtap.demo.v1." + output),
		ClientStreaming: proto.Bool(clientStreams),
		ServerStreaming: proto.Bool(serverStreams),
	}
}

func fileProto() *descriptorpb.FileDescriptorProto {
	method := func(name string, clientStreams, serverStreams bool) *descriptorpb.MethodDescriptorProto {
		return rpc(name, "HelloRequest", "HelloReply", clientStreams, serverStreams)
	}
	t := descriptorpb.FieldDescriptorProto_TYPE_STRING
	i32 := descriptorpb.FieldDescriptorProto_TYPE_INT32
	byt := descriptorpb.FieldDescriptorProto_TYPE_BYTES
	msg := descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	enum := descriptorpb.FieldDescriptorProto_TYPE_ENUM
	return &descriptorpb.FileDescriptorProto{
		Name:       proto.String(fileName),
		Package:    proto.String("podtap.demo.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/timestamp.proto"},
		EnumType: []*descriptorpb.EnumDescriptorProto{{
			Name: proto.String("Kind"),
			Value: []*descriptorpb.EnumValueDescriptorProto{
				{Name: proto.String("KIND_UNSPECIFIED"), Number: proto.Int32(0)},
				{Name: proto.String("KIND_GREETING"), Number: proto.Int32(1)},
				{Name: proto.String("KIND_FAREWELL"), Number: proto.Int32(2)},
			},
		}},
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("HelloRequest"), Field: []*descriptorpb.FieldDescriptorProto{
				field("name", 1, t, "", false),
				field("times", 2, i32, "", false),
				field("blob", 3, byt, "", false),
				field("tags", 4, t, "", true),
			}},
			{Name: proto.String("HelloReply"), Field: []*descriptorpb.FieldDescriptorProto{
				field("message", 1, t, "", false),
				field("index", 2, i32, "", false),
				field("at", 3, msg, ".google.protobuf.Timestamp", false),
				field("kind", 4, enum, ".podtap.demo.v1.Kind", false),
				field("blob", 5, byt, "", false),
			}},
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("Greeter"),
			Method: []*descriptorpb.MethodDescriptorProto{
				method(SayHello, false, false),
				method(StreamReplies, false, true),
				method(CollectNames, true, false),
				method(Chat, true, true),
			},
		}},
	}
}

// jsonName is protoc's lowerCamelCase JSON name of a field.
func jsonName(name string) string {
	out := make([]byte, 0, len(name))
	upper := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_':
			upper = true
		case upper && c >= 'a' && c <= 'z':
			out = append(out, c-'a'+'A')
			upper = false
		default:
			out = append(out, c)
			upper = false
		}
	}
	return string(out)
}
