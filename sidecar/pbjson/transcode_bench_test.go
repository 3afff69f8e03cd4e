package pbjson

import (
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/podtap/podtap/internal/grpcdemo"
)

// BenchmarkTranscode writes messages as JSON straight from the wire, and
// the reflective way (dynamicpb, protojson) for comparison: the greeter's
// request and reply (with a Timestamp), which BenchmarkGRPCReplay sends,
// a large random Kitchen, and a random Known of well-known types.
func BenchmarkTranscode(b *testing.B) {
	demo, err := grpcdemo.NewSchema()
	if err != nil {
		b.Fatal(err)
	}
	hello, err := proto.Marshal(demo.NewRequest("bench", 7, []byte("0123456789abcdef0123456789abcdef"), "a", "b"))
	if err != nil {
		b.Fatal(err)
	}
	reply, err := proto.Marshal(demo.NewReply("Hello, bench", 7, 1, nil))
	if err != nil {
		b.Fatal(err)
	}
	s := newTestSchema(b)
	kitchen := randomMessage(b, rand.New(rand.NewPCG(5, 5)), s.kitchen)
	known := validKnown(b, s)
	for _, m := range []struct {
		name string
		md   protoreflect.MessageDescriptor
		b    []byte
	}{
		{"hello", demo.Request, hello},
		{"reply", demo.Reply, reply},
		{"kitchen", s.kitchen, kitchen},
		{"known", s.known, known},
	} {
		wr := NewWriter(protoregistry.GlobalTypes)
		b.Run(m.name+"/transcode", func(b *testing.B) {
			p := compile(m.md)
			var tr transcoder
			var buf []byte
			b.SetBytes(int64(len(m.b)))
			b.ReportAllocs()
			for b.Loop() {
				if buf, err = tr.transcode(buf[:0], p, m.b); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(m.name+"/dynamicpb", func(b *testing.B) {
			var buf []byte
			b.SetBytes(int64(len(m.b)))
			b.ReportAllocs()
			for b.Loop() {
				if buf, err = wr.reflective(buf[:0], m.md, m.b); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// validKnown is a random Known that protojson writes, the first of a
// fixed sequence.
func validKnown(b *testing.B, s *testSchema) []byte {
	r := rand.New(rand.NewPCG(5, 5))
	for {
		m := randomMessage(b, r, s.known)
		if _, err := reference(s.known, m); err == nil {
			return m
		}
	}
}
