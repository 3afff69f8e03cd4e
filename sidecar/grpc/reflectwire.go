package grpc

import (
	"context"
	"fmt"

	ggrpc "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	refv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	refv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

// normalizeReflection is a stream interceptor of reflection clients: it
// normalises the file descriptors of each response as they arrive, before
// the reflection client compiles them with protodesc, which it does as
// soon as it has them.
func normalizeReflection(ctx context.Context, desc *ggrpc.StreamDesc, cc *ggrpc.ClientConn, method string, streamer ggrpc.Streamer, opts ...ggrpc.CallOption) (ggrpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &normalizingStream{ClientStream: s, n: newNormalizer()}, nil
}

// normalizingStream is one reflection stream. Its normalizer outlives a
// response, as a server sends each file once per stream.
type normalizingStream struct {
	ggrpc.ClientStream
	n *normalizer
}

func (s *normalizingStream) RecvMsg(m any) error {
	if err := s.ClientStream.RecvMsg(m); err != nil {
		return err
	}
	switch r := m.(type) {
	case *refv1.ServerReflectionResponse:
		if fr := r.GetFileDescriptorResponse(); fr != nil {
			if err := s.rewrite(fr.FileDescriptorProto); err != nil {
				r.MessageResponse = &refv1.ServerReflectionResponse_ErrorResponse{ErrorResponse: descriptorError(err)}
			}
		}
	case *refv1alpha.ServerReflectionResponse:
		if fr := r.GetFileDescriptorResponse(); fr != nil {
			if err := s.rewrite(fr.FileDescriptorProto); err != nil {
				v1 := descriptorError(err)
				r.MessageResponse = &refv1alpha.ServerReflectionResponse_ErrorResponse{ErrorResponse: &refv1alpha.ErrorResponse{
					ErrorCode: v1.ErrorCode, ErrorMessage: v1.ErrorMessage}}
			}
		}
	}
	return nil
}

// rewrite normalises the encoded files of one response in place.
func (s *normalizingStream) rewrite(encoded [][]byte) error {
	files := make([]*descriptorpb.FileDescriptorProto, len(encoded))
	for i, b := range encoded {
		files[i] = new(descriptorpb.FileDescriptorProto)
		if err := proto.Unmarshal(b, files[i]); err != nil {
			return fmt.Errorf("grpc: file descriptor %d of a reflection response: %w", i, err)
		}
	}
	if err := s.n.normalize(files); err != nil {
		return err
	}
	for i, fd := range files {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(fd)
		if err != nil {
			return fmt.Errorf("grpc: file descriptor %s: %w", fd.GetName(), err)
		}
		encoded[i] = b
	}
	return nil
}

// descriptorError is the error response that takes the place of files
// that cannot be normalised, so that the reflection client fails the
// lookup with the reason rather than with protodesc's first complaint.
func descriptorError(err error) *refv1.ErrorResponse {
	return &refv1.ErrorResponse{ErrorCode: int32(codes.InvalidArgument), ErrorMessage: err.Error()}
}
