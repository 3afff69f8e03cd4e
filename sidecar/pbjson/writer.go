// Package pbjson writes protobuf messages as the JSON protojson writes for
// them (default options), given the bytes off the wire and the message's
// descriptor. Most messages are transcoded straight from the wire, with no
// message built in between; those the transcoder cannot write exactly go
// the reflective way, through dynamicpb and protojson.
package pbjson

import (
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Resolver finds the types a message refers to by name: those packed in
// google.protobuf.Any, and extensions.
type Resolver interface {
	protoregistry.MessageTypeResolver
	protoregistry.ExtensionTypeResolver
}

// Writer writes messages of the types of one schema. It compiles the
// transcoder's plan of each message type on first use and keeps it, so
// that a schema dropped takes its plans with it. It is safe for
// concurrent use.
type Writer struct {
	types Resolver
	// plans: protoreflect.MessageDescriptor → *plan.
	plans sync.Map
}

// NewWriter makes a Writer resolving the types messages refer to with
// types.
func NewWriter(types Resolver) *Writer { return &Writer{types: types} }

// Append appends the JSON of b, a message of type md, to dst. On error,
// dst is returned as it was.
func (w *Writer) Append(dst []byte, md protoreflect.MessageDescriptor, b []byte) ([]byte, error) {
	t := transcoders.Get().(*transcoder)
	out, err := t.transcode(dst, w.planOf(md), b)
	transcoders.Put(t)
	if errors.Is(err, errFallback) {
		return w.reflective(dst, md, b)
	}
	return out, err
}

// planOf is the transcoder's plan of message type md.
func (w *Writer) planOf(md protoreflect.MessageDescriptor) *plan {
	if p, ok := w.plans.Load(md); ok {
		return p.(*plan)
	}
	p, _ := w.plans.LoadOrStore(md, compile(md))
	return p.(*plan)
}

// reflective appends the JSON of message b of type md the general way,
// building it with dynamicpb and writing it with protojson.
func (w *Writer) reflective(dst []byte, md protoreflect.MessageDescriptor, b []byte) ([]byte, error) {
	m, err := Unmarshal(b, md, w.types)
	if err != nil {
		return dst, fmt.Errorf("not a valid message: %w", err)
	}
	out, err := protojson.MarshalOptions{Resolver: w.types}.MarshalAppend(dst, m)
	if err != nil {
		return dst, fmt.Errorf("to JSON: %w", err)
	}
	return out, nil
}

// Unmarshal decodes b as a dynamicpb message of type md. The bytes come
// off the network, and proto.Unmarshal panics on some malformed ones when
// decoding into dynamicpb (see errMapKey): a panic is their error.
func Unmarshal(b []byte, md protoreflect.MessageDescriptor, types Resolver) (m *dynamicpb.Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			m, err = nil, fmt.Errorf("protobuf decoder failed: %v", p)
		}
	}()
	m = dynamicpb.NewMessage(md)
	if err := (proto.UnmarshalOptions{Resolver: types}).Unmarshal(b, m); err != nil {
		return nil, err
	}
	return m, nil
}
