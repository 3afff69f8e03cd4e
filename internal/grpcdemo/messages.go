package grpcdemo

import (
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Epoch is the base of the timestamps in replies, so that they are known.
var Epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// NewReply builds the reply the service sends: deterministic, so tests can
// predict it.
func (s *Schema) NewReply(message string, index int32, kind protoreflect.EnumNumber, blob []byte) *dynamicpb.Message {
	m := dynamicpb.NewMessage(s.Reply)
	f := s.Reply.Fields()
	m.Set(f.ByName("message"), protoreflect.ValueOfString(message))
	m.Set(f.ByName("index"), protoreflect.ValueOfInt32(index))
	at := timestamppb.New(Epoch.Add(time.Duration(index) * time.Second))
	m.Set(f.ByName("at"), protoreflect.ValueOfMessage(at.ProtoReflect()))
	m.Set(f.ByName("kind"), protoreflect.ValueOfEnum(kind))
	if len(blob) > 0 {
		m.Set(f.ByName("blob"), protoreflect.ValueOfBytes(blob))
	}
	return m
}

// NewRequest builds a HelloRequest.
func (s *Schema) NewRequest(name string, times int32, blob []byte, tags ...string) *dynamicpb.Message {
	m := dynamicpb.NewMessage(s.Request)
	f := s.Request.Fields()
	m.Set(f.ByName("name"), protoreflect.ValueOfString(name))
	if times != 0 {
		m.Set(f.ByName("times"), protoreflect.ValueOfInt32(times))
	}
	if len(blob) > 0 {
		m.Set(f.ByName("blob"), protoreflect.ValueOfBytes(blob))
	}
	if len(tags) > 0 {
		l := m.Mutable(f.ByName("tags")).List()
		for _, t := range tags {
			l.Append(protoreflect.ValueOfString(t))
		}
	}
	return m
}

const (
	kindGreeting = 1
	kindFarewell = 2
)
