package grpcdemo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // gzip-compressed calls
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Names that make the service fail, to exercise error statuses.
const (
	// NameInvalid fails a call with INVALID_ARGUMENT.
	NameInvalid = "invalid"
	// NameBoom fails a call with INTERNAL and a message that needs
	// percent-encoding on the wire.
	NameBoom = "boom"
	// BoomMessage is the status message of NameBoom.
	BoomMessage = "boom: ünïcode 100% failure"
	// TagEcho makes SayHello echo the request's blob in its reply.
	TagEcho = "echo"
)

// ServerOptions choose the services registered besides the greeter.
type ServerOptions struct {
	ReflectionV1      bool
	ReflectionV1Alpha bool
	// Catalog serves the catalog service too.
	Catalog bool
	// GRPC are more options for grpc.NewServer, e.g. interceptors.
	GRPC []grpc.ServerOption
}

// Server serves the greeter, and the catalog if asked.
type Server struct {
	schema *Schema
	gs     *grpc.Server
}

// NewServer makes the greeter's gRPC server.
func NewServer(s *Schema, opts ServerOptions) *Server {
	srv := &Server{schema: s, gs: grpc.NewServer(opts.GRPC...)}
	srv.gs.RegisterService(&grpc.ServiceDesc{
		ServiceName: Service,
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: SayHello, Handler: srv.sayHello}},
		Streams: []grpc.StreamDesc{
			{StreamName: StreamReplies, Handler: srv.streamReplies, ServerStreams: true},
			{StreamName: CollectNames, Handler: srv.collectNames, ClientStreams: true},
			{StreamName: Chat, Handler: srv.chat, ServerStreams: true, ClientStreams: true},
		},
		Metadata: fileName,
	}, srv)
	if opts.Catalog {
		srv.registerCatalog()
	}
	ropts := reflection.ServerOptions{Services: srv.gs, DescriptorResolver: s.Files}
	if opts.ReflectionV1 {
		reflectionv1.RegisterServerReflectionServer(srv.gs, reflection.NewServerV1(ropts))
	}
	if opts.ReflectionV1Alpha {
		reflectionv1alpha.RegisterServerReflectionServer(srv.gs, reflection.NewServer(ropts))
	}
	return srv
}

// Serve serves on ln until Stop.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.gs.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("grpcdemo: %w", err)
	}
	return nil
}

// Stop ends the server and its connections.
func (s *Server) Stop() { s.gs.Stop() }

func (s *Server) fields(m *dynamicpb.Message) (name string, times int32, blob []byte) {
	f := s.schema.Request.Fields()
	return m.Get(f.ByName("name")).String(), int32(m.Get(f.ByName("times")).Int()), m.Get(f.ByName("blob")).Bytes()
}

func (s *Server) hasTag(m *dynamicpb.Message, tag string) bool {
	l := m.Get(s.schema.Request.Fields().ByName("tags")).List()
	for i := range l.Len() {
		if l.Get(i).String() == tag {
			return true
		}
	}
	return false
}

// failure is the status a name asks for, or nil.
func failure(name string) error {
	switch name {
	case NameInvalid:
		return status.Error(codes.InvalidArgument, "name must not be "+NameInvalid)
	case NameBoom:
		return status.Error(codes.Internal, BoomMessage)
	}
	return nil
}

func (s *Server) sayHello(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	req := dynamicpb.NewMessage(s.schema.Request)
	if err := dec(req); err != nil {
		return nil, err
	}
	name, times, blob := s.fields(req)
	if err := failure(name); err != nil {
		return nil, err
	}
	if !s.hasTag(req, TagEcho) {
		blob = nil
	}
	return s.schema.NewReply("hello "+name, times, kindGreeting, blob), nil
}

func (s *Server) streamReplies(_ any, stream grpc.ServerStream) error {
	req := dynamicpb.NewMessage(s.schema.Request)
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	name, times, _ := s.fields(req)
	for i := range times {
		if err := stream.SendMsg(s.schema.NewReply(fmt.Sprintf("hello %s #%d", name, i), i, kindGreeting, nil)); err != nil {
			return err
		}
		if i == 0 {
			if err := failure(name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) collectNames(_ any, stream grpc.ServerStream) error {
	var names []string
	for {
		req := dynamicpb.NewMessage(s.schema.Request)
		err := stream.RecvMsg(req)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name, _, _ := s.fields(req)
		if err := failure(name); err != nil {
			return err
		}
		names = append(names, name)
	}
	return stream.SendMsg(s.schema.NewReply("hello "+strings.Join(names, ", "), int32(len(names)), kindFarewell, nil))
}

func (s *Server) chat(_ any, stream grpc.ServerStream) error {
	for i := int32(0); ; i++ {
		req := dynamicpb.NewMessage(s.schema.Request)
		err := stream.RecvMsg(req)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name, _, _ := s.fields(req)
		if err := failure(name); err != nil {
			return err
		}
		if err := stream.SendMsg(s.schema.NewReply("echo "+name, i, kindGreeting, nil)); err != nil {
			return err
		}
	}
}
