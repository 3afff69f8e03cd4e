package pbjson

import (
	"errors"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// FuzzTranscode reads random bytes as a message of the test schema, and
// holds the transcoder to the reflective decoder: where proto.Unmarshal
// and protojson succeed, the same JSON or a fallback; where they fail, an
// error or a fallback. One transcoder serves every input, as pooled ones
// do, so that scratch left over from one message would show in the next.
func FuzzTranscode(f *testing.F) {
	s := newTestSchema(f)
	// Kitchen and Known twice: they have the most to get wrong. The
	// well-known types at the top too, where their JSON is no object.
	types := []protoreflect.MessageDescriptor{s.kitchen, s.kitchen, s.legacy, s.edition, s.known, s.known,
		s.wkt("Value"), s.wkt("Struct"), s.wkt("Timestamp"), s.wkt("Duration"), s.wkt("FieldMask"), s.wkt("StringValue")}
	plans := make([]*plan, len(types))
	for i, md := range types {
		plans[i] = compile(md)
	}
	index := func(md protoreflect.MessageDescriptor) uint8 {
		for i, t := range types {
			if t == md {
				return uint8(i)
			}
		}
		return 0
	}
	for _, c := range transcodeCases(s) {
		if c.want != fallback || c.md == s.kitchen || c.md == s.known {
			f.Add(index(c.md), []byte(c.b))
		}
	}
	// Small encoder-written seeds: large ones slow every mutation down.
	r := rand.New(rand.NewPCG(11, 11))
	for i, md := range types {
		for added, tries := 0, 0; added < 5 && tries < 200; tries++ {
			if b := randomMessage(f, r, md); len(b) <= 1024 {
				f.Add(uint8(i), b)
				added++
			}
		}
	}
	var tr transcoder
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		i := int(which) % len(types)
		want, refErr := reference(types[i], b)
		got, err := tr.transcode(nil, plans[i], b)
		switch {
		case errors.Is(err, errFallback):
		case err != nil:
			if refErr == nil {
				t.Fatalf("transcoder: %v; protojson: %s", err, want)
			}
		case refErr != nil:
			t.Fatalf("transcoder: %s; reference: %v", got, refErr)
		default:
			sameAsProtojson(t, got, want)
		}
	})
}
