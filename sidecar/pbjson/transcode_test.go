package pbjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	dpb "google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// w builds wire-format messages field by field, for cases no encoder
// writes: repeated singular fields, mixed packing, wrong wire types,
// unknown fields, malformed data.
type w []byte

func (b w) varint(num protowire.Number, v uint64) w {
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

func (b w) fixed32(num protowire.Number, v uint32) w {
	return protowire.AppendFixed32(protowire.AppendTag(b, num, protowire.Fixed32Type), v)
}

func (b w) fixed64(num protowire.Number, v uint64) w {
	return protowire.AppendFixed64(protowire.AppendTag(b, num, protowire.Fixed64Type), v)
}

func (b w) bytes(num protowire.Number, v []byte) w {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

func (b w) str(num protowire.Number, s string) w { return b.bytes(num, []byte(s)) }

func (b w) msg(num protowire.Number, m w) w { return b.bytes(num, m) }

// packed appends the varints vs as one packed run.
func (b w) packed(num protowire.Number, vs ...uint64) w {
	var run []byte
	for _, v := range vs {
		run = protowire.AppendVarint(run, v)
	}
	return b.bytes(num, run)
}

func (b w) raw(p ...byte) w { return append(b, p...) }

// kv is a map entry of key and value fields.
func kv(key, val w) w { return append(append(w{}, key...), val...) }

// reference is what Append did before the transcoder, and still does for
// what the transcoder leaves: dynamicpb, then protojson.
// proto.Unmarshal panics on some malformed input (see errMapKey), which
// counts as its failure.
func reference(md protoreflect.MessageDescriptor, b []byte) (_ []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("proto.Unmarshal panicked: %v", p)
		}
	}()
	m := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, err
	}
	return protojson.Marshal(m)
}

// decodeJSON reads one JSON document, numbers kept as written: protojson
// spaces its output at random, so documents are compared as values.
func decodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	v, err := jsonValue(b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func jsonValue(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w\n%s", err, b)
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data after the JSON document:\n%s", b)
	}
	return v, nil
}

func sameAsProtojson(t testing.TB, got, want []byte) {
	t.Helper()
	g, w := decodeJSON(t, got), decodeJSON(t, want)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("JSON differs from protojson's at %s\n got: %s\nwant: %s", firstDiff("$", g, w), got, want)
	}
}

// firstDiff is the path of the first difference between JSON values, to
// point at it in a large document.
func firstDiff(path string, got, want any) string {
	g, gok := got.(map[string]any)
	w, wok := want.(map[string]any)
	if gok && wok {
		for k, v := range w {
			if gv, ok := g[k]; !ok || !reflect.DeepEqual(gv, v) {
				return firstDiff(path+"."+k, gv, v)
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return path + "." + k + " (extra)"
			}
		}
	}
	gl, gok := got.([]any)
	wl, wok := want.([]any)
	if gok && wok && len(gl) == len(wl) {
		for i := range wl {
			if !reflect.DeepEqual(gl[i], wl[i]) {
				return firstDiff(fmt.Sprintf("%s[%d]", path, i), gl[i], wl[i])
			}
		}
	}
	return fmt.Sprintf("%s: %v, want %v", path, got, want)
}

// outcome is what the transcoder is expected to do with a message.
type outcome int

const (
	fast     outcome = iota // JSON equal to protojson's
	fallback                // left to the reflective decoder
	failure                 // an error, as proto.Unmarshal or protojson gives
	refused                 // left to the reflective decoder, which fails
)

// check transcodes b as md and holds the result to the reference.
func check(t *testing.T, md protoreflect.MessageDescriptor, b []byte, want outcome) {
	t.Helper()
	refJSON, refErr := reference(md, b)
	var tr transcoder
	got, err := tr.transcode([]byte("prefix"), compile(md), b)
	switch {
	case errors.Is(err, errFallback):
		if want != fallback && want != refused {
			t.Fatalf("fell back, want outcome %d", want)
		}
		if string(got) != "prefix" {
			t.Fatalf("fallback left output %q", got)
		}
	case err != nil:
		if want != failure {
			t.Fatalf("error %v, want outcome %d", err, want)
		}
		if refErr == nil {
			t.Fatalf("error %v, but protojson gives %s", err, refJSON)
		}
	default:
		if want != fast {
			t.Fatalf("transcoded to %s, want outcome %d", got, want)
		}
		if refErr != nil {
			t.Fatalf("transcoded to %s, but the reference fails: %v", got, refErr)
		}
		if !bytes.HasPrefix(got, []byte("prefix")) {
			t.Fatalf("output does not extend dst: %q", got)
		}
		sameAsProtojson(t, got[len("prefix"):], refJSON)
	}
	if (want == failure || want == refused) && refErr == nil {
		t.Fatalf("case expects an error, but the reference gives %s", refJSON)
	}
	if want != failure && want != refused && refErr != nil {
		t.Fatalf("case expects JSON, but the reference fails: %v", refErr)
	}
	if len(tr.occs)+len(tr.wins)+len(tr.ents) != 0 {
		t.Fatal("scratch not emptied")
	}
}

func zz(v int64) uint64 { return protowire.EncodeZigZag(v) }

func f32(v float32) uint32 { return math.Float32bits(v) }

func f64(v float64) uint64 { return math.Float64bits(v) }

// transcodeCase is a message and what the transcoder should make of it.
type transcodeCase struct {
	name string
	md   protoreflect.MessageDescriptor
	b    w
	want outcome
}

func TestTranscode(t *testing.T) {
	for _, c := range transcodeCases(newTestSchema(t)) {
		t.Run(c.name, func(t *testing.T) { check(t, c.md, c.b, c.want) })
	}
}

func transcodeCases(s *testSchema) []transcodeCase {
	neg := func(v int64) uint64 { return uint64(v) }
	floatEdges := []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), 1, -2.5, 0.1,
		1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 1.5e300, 5e-324, math.MaxFloat64, -math.SmallestNonzeroFloat64, 123456789.125}
	float32Edges := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
		0.1, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, math.MaxFloat32, math.SmallestNonzeroFloat32, 16777217, -3.25}
	var doubles, floats w
	for _, v := range floatEdges {
		doubles = doubles.fixed64(23, f64(v))
	}
	for _, v := range float32Edges {
		floats = floats.fixed32(19, f32(v))
	}

	return append([]transcodeCase{
		{"empty", s.kitchen, nil, fast},
		{"scalars", s.kitchen, w{}.varint(1, 7).varint(2, 1<<40).varint(3, 4000000000).varint(4, math.MaxUint64).
			varint(5, zz(-5)).varint(6, zz(math.MinInt64)).fixed32(7, math.MaxUint32).fixed64(8, math.MaxUint64).
			fixed32(9, uint32(0xfffffff9)).fixed64(10, neg(math.MinInt64)).fixed32(11, f32(1.25)).fixed64(12, f64(-0.5)).
			varint(13, 1).str(14, "héllo \"wörld\"\n\t\x01\\ \u2028 <>&").bytes(15, []byte{0, 0xff, 1}).varint(16, 2), fast},
		{"negative varints", s.kitchen, w{}.varint(1, neg(-1)).varint(2, neg(math.MinInt64)).varint(5, zz(math.MinInt32)).
			varint(6, zz(-1)).varint(16, neg(-3)), fast},
		{"int32 keeps the low 32 bits", s.kitchen, w{}.varint(1, 1<<32|5).varint(3, 1<<33|9).varint(5, 1<<32|3), fast},
		{"int32 whose low bits are zero is unset", s.kitchen, w{}.varint(1, 1<<32).varint(16, 1<<32), fast},
		{"bool from a large varint", s.kitchen, w{}.varint(13, 1<<63), fast},
		{"zero values are left out", s.kitchen, w{}.varint(1, 0).varint(2, 0).fixed32(11, 0).fixed64(12, 0).
			str(14, "").bytes(15, nil).varint(13, 0).varint(16, 0), fast},
		{"negative zero is written", s.kitchen, w{}.fixed32(11, f32(float32(math.Copysign(0, -1)))).fixed64(12, f64(math.Copysign(0, -1))), fast},
		{"NaN is written", s.kitchen, w{}.fixed32(11, 0x7fc00001).fixed64(12, 0xfff8000000000001), fast},
		{"double edges", s.kitchen, doubles, fast},
		{"float edges", s.kitchen, floats, fast},
		{"last value wins", s.kitchen, w{}.varint(1, 1).str(14, "a").varint(1, 2).str(14, "b"), fast},
		{"last value zero unsets", s.kitchen, w{}.varint(1, 1).str(14, "a").varint(1, 0).str(14, ""), fast},
		{"enums known, aliased and unknown", s.kitchen, w{}.varint(16, 1).packed(27, 0, 1, 2, neg(-3), 100000, 7, neg(-100)), fast},
		{"unknown enum", s.kitchen, w{}.varint(16, 42), fast},
		{"nested", s.kitchen, w{}.msg(17, w{}.varint(1, 3).str(2, "x").msg(3, w{}.varint(4, 2)).msg(3, nil)), fast},
		{"empty nested message is written", s.kitchen, w{}.msg(17, nil), fast},
		{"nested message seen twice merges", s.kitchen, w{}.msg(17, w{}.varint(1, 1)).msg(17, w{}.str(2, "x")), fallback},
		{"packed", s.kitchen, w{}.packed(20, 1, neg(-1), 300).packed(21, zz(-2), zz(math.MaxInt64)).
			bytes(22, []byte{1, 0, 0, 0, 2, 0, 0, 0}).packed(24, 1, 0, 5), fast},
		{"unpacked", s.kitchen, w{}.varint(20, 1).varint(20, neg(-1)).varint(21, zz(-7)).fixed32(22, 9).fixed64(23, f64(2.5)).
			varint(24, 0).varint(29, 5).varint(29, 6), fast},
		{"packed and unpacked mixed", s.kitchen, w{}.varint(20, 1).packed(20, 2, 3).varint(20, 4).packed(29, 7, 8).varint(29, 9), fast},
		{"empty packed run only", s.kitchen, w{}.bytes(20, nil).bytes(29, nil), fast},
		{"empty packed run among elements", s.kitchen, w{}.bytes(20, nil).varint(20, 1).bytes(20, nil), fast},
		{"repeated strings, bytes, messages", s.kitchen, w{}.str(25, "").str(25, "b").bytes(26, nil).bytes(26, []byte("xyz")).
			msg(28, nil).msg(28, w{}.varint(1, 1)).msg(28, w{}.varint(1, 1)), fast},
		{"repeated sfixed64 and float", s.kitchen, w{}.fixed64(18, neg(-1)).bytes(18, make([]byte, 16)).fixed32(19, f32(0.5)), fast},
		{"fields out of declaration order", s.kitchen, w{}.varint(72, 0).str(72, "z").str(14, "s").varint(1, 1).msg(70, w{}.str(14, "c")).varint(74, 3), fast},
		{"map string to int32", s.kitchen, w{}.msg(30, kv(w{}.str(1, "b"), w{}.varint(2, 2))).msg(30, kv(w{}.str(1, "a"), w{}.varint(2, neg(-1)))).
			msg(30, kv(w{}.str(1, "B"), w{}.varint(2, 0))).msg(30, kv(w{}.str(1, "é"), w{}.varint(2, 9))), fast},
		{"map int32 keys numerically", s.kitchen, w{}.msg(31, kv(w{}.varint(1, 10), w{}.str(2, "ten"))).msg(31, kv(w{}.varint(1, neg(-2)), w{}.str(2, "m2"))).
			msg(31, kv(w{}.varint(1, 9), w{}.str(2, "nine"))).msg(31, kv(w{}.varint(1, 1<<32|1), w{}.str(2, "one"))), fast},
		{"map int64 to message", s.kitchen, w{}.msg(32, kv(w{}.varint(1, neg(math.MinInt64)), w{}.msg(2, w{}.varint(1, 5)))).
			msg(32, kv(w{}.varint(1, math.MaxInt64), w{}.msg(2, nil))).msg(32, kv(w{}.varint(1, 0), nil)), fast},
		{"map uint32 to enum", s.kitchen, w{}.msg(33, kv(w{}.varint(1, math.MaxUint32), w{}.varint(2, 2))).msg(33, kv(w{}.varint(1, 1), w{}.varint(2, 77))).
			msg(33, kv(w{}.varint(1, 2), nil)), fast},
		{"map uint64 to bytes", s.kitchen, w{}.msg(34, kv(w{}.varint(1, math.MaxUint64), w{}.bytes(2, []byte{1, 2}))).msg(34, kv(w{}.varint(1, 3), nil)), fast},
		{"map sint32 to double", s.kitchen, w{}.msg(35, kv(w{}.varint(1, zz(-1)), w{}.fixed64(2, f64(math.Inf(-1))))).msg(35, kv(w{}.varint(1, zz(1)), nil)).
			msg(35, kv(w{}.varint(1, zz(-100)), w{}.fixed64(2, f64(1e-9)))), fast},
		{"map sint64 to float", s.kitchen, w{}.msg(36, kv(w{}.varint(1, zz(math.MinInt64)), w{}.fixed32(2, f32(3.5)))).msg(36, kv(w{}.varint(1, zz(5)), nil)), fast},
		{"map fixed32 to bool", s.kitchen, w{}.msg(37, kv(w{}.fixed32(1, math.MaxUint32), w{}.varint(2, 1))).msg(37, kv(w{}.fixed32(1, 0), nil)), fast},
		{"map fixed64 to int64", s.kitchen, w{}.msg(38, kv(w{}.fixed64(1, math.MaxUint64), w{}.varint(2, neg(-9)))).msg(38, kv(w{}.fixed64(1, 1), nil)), fast},
		{"map sfixed32 to uint64", s.kitchen, w{}.msg(39, kv(w{}.fixed32(1, uint32(0x80000000)), w{}.varint(2, math.MaxUint64))).msg(39, kv(w{}.fixed32(1, 7), nil)), fast},
		{"map sfixed64 to sint32", s.kitchen, w{}.msg(40, kv(w{}.fixed64(1, neg(-1)), w{}.varint(2, zz(-4)))).msg(40, kv(w{}.fixed64(1, 0), nil)), fast},
		{"map bool to string", s.kitchen, w{}.msg(41, kv(w{}.varint(1, 1), w{}.str(2, "yes"))).msg(41, kv(w{}.varint(1, 0), w{}.str(2, "no"))), fast},
		{"map string to message", s.kitchen, w{}.msg(42, kv(w{}.str(1, "k"), w{}.msg(2, w{}.varint(1, 1).msg(42, kv(w{}.str(1, "n"), nil))))), fast},
		{"map duplicate keys, last wins", s.kitchen, w{}.msg(30, kv(w{}.str(1, "k"), w{}.varint(2, 1))).msg(30, kv(w{}.str(1, "j"), w{}.varint(2, 5))).
			msg(30, kv(w{}.str(1, "k"), w{}.varint(2, 2))).msg(32, kv(w{}.varint(1, 1), w{}.msg(2, w{}.varint(1, 1)))).
			msg(32, kv(w{}.varint(1, 1), w{}.msg(2, w{}.varint(1, 2)))), fast},
		{"map entry without key or value", s.kitchen, w{}.msg(30, nil).msg(31, kv(nil, w{}.str(2, "v"))).msg(33, kv(w{}.varint(1, 4), nil)), fast},
		{"map entry fields repeated, unknown, mistyped", s.kitchen, w{}.msg(30, w{}.str(1, "a").varint(2, 1).str(1, "b").varint(2, 2).varint(3, 9).fixed32(2, 5).varint(1, 3).str(1, "c")), fast},
		{"map key of the wrong wire type alone", s.kitchen, w{}.msg(30, w{}.varint(1, 3).varint(2, 4)), fast},
		{"map key repeated with the wrong wire type", s.kitchen, w{}.msg(30, w{}.str(1, "a").varint(2, 4).varint(1, 3)), failure},
		{"map key repeated with the wrong wire type in a replaced entry", s.kitchen, w{}.msg(31, w{}.varint(1, 1).fixed32(1, 3)).msg(31, kv(w{}.varint(1, 1), nil)), failure},
		{"map entry message value twice merges", s.kitchen, w{}.msg(32, kv(w{}.varint(1, 1), w{}.msg(2, w{}.varint(1, 1)).msg(2, w{}.str(2, "x")))), fallback},
		{"map of wrong wire type is unknown", s.kitchen, w{}.varint(30, 5), fast},
		{"oneof last wins", s.kitchen, w{}.varint(50, 5).str(51, "s").varint(53, 1), fast},
		{"oneof zero value is written", s.kitchen, w{}.str(51, "s").varint(50, 0), fast},
		{"oneof empty bytes is written", s.kitchen, w{}.bytes(54, nil), fast},
		{"oneof message replaced", s.kitchen, w{}.msg(52, w{}.varint(1, 1)).varint(50, 3), fast},
		{"oneof message wins", s.kitchen, w{}.varint(50, 3).msg(52, w{}.varint(1, 1)), fast},
		{"oneof same scalar twice", s.kitchen, w{}.varint(50, 3).str(51, "x").varint(50, 4), fast},
		{"oneof replaced message must be valid", s.kitchen, w{}.msg(52, w{}.raw(0x08)).varint(50, 3), failure},
		{"proto3 optional zero is written", s.kitchen, w{}.varint(60, 0).str(61, "").varint(62, 0).fixed64(63, 0), fast},
		{"unknown fields skipped", s.kitchen, w{}.varint(1000, 1).fixed32(1001, 1).fixed64(1002, 1).str(1003, "\xff").
			raw(0x83, 0x3f /* start group 1008 */, 0x08, 0x01, 0x84, 0x3f /* end group 1008 */).varint(1, 9), fast},
		{"wrong wire type is unknown", s.kitchen, w{}.varint(1, 3).fixed32(1, 5).str(2, "x").varint(14, 1).varint(17, 1).fixed64(25, 1).varint(1, 4), fast},
		{"wrong wire type skipped even if last", s.kitchen, w{}.varint(1, 3).fixed64(1, 5), fast},
		{"packed run for a string list is an element", s.kitchen, w{}.bytes(25, []byte{1, 2}), fast},
		{"recursion", s.kitchen, w{}.msg(70, w{}.msg(70, w{}.msg(71, w{}.varint(1, 1)).msg(71, nil))), fast},
		{"sparse field numbers", s.kitchen, w{}.msg(73, w{}.varint(1, 1).str(536870911, "hi").varint(536870910, 1)), fast},
		{"max field number", s.kitchen, w{}.varint(protowire.MaxValidNumber, 1), fast},

		{"truncated varint", s.kitchen, w{}.raw(0x08, 0x80), failure},
		{"varint too long", s.kitchen, w{}.raw(0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), failure},
		{"varint overflowing 64 bits", s.kitchen, w{}.raw(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02), failure},
		{"truncated fixed32", s.kitchen, w{}.raw(0x3d, 1, 2), failure},
		{"truncated bytes", s.kitchen, w{}.raw(0x72, 5, 'a'), failure},
		{"truncated tag", s.kitchen, w{}.raw(0x80), failure},
		{"field number zero", s.kitchen, w{}.raw(0x00, 0x01), failure},
		{"field number too large", s.kitchen, w{}.varint(protowire.MaxValidNumber+1, 1), failure},
		{"wire type 6", s.kitchen, w{}.raw(0x0e, 0x01), failure},
		{"wire type 7", s.kitchen, w{}.raw(0x0f, 0x01), failure},
		{"end group at top", s.kitchen, w{}.raw(0x0c), failure},
		{"unterminated group", s.kitchen, w{}.raw(0x83, 0x3f, 0x08, 0x01), failure},
		{"mismatched end group", s.kitchen, w{}.raw(0x83, 0x3f, 0x8c, 0x3f), failure},
		{"truncated unknown field", s.kitchen, w{}.raw(0xc2, 0x3e, 0x05), failure},
		{"malformed packed run", s.kitchen, w{}.bytes(20, []byte{0x80}), failure},
		{"packed fixed32 of odd length", s.kitchen, w{}.bytes(22, []byte{1, 2, 3, 4, 5}), failure},
		{"packed fixed64 of odd length", s.kitchen, w{}.bytes(23, []byte{1, 2, 3, 4}), failure},
		{"malformed nested message", s.kitchen, w{}.msg(17, w{}.raw(0x08)), failure},
		{"malformed repeated message", s.kitchen, w{}.msg(28, nil).msg(28, w{}.raw(0xff)), failure},
		{"malformed map entry", s.kitchen, w{}.msg(30, w{}.raw(0x0a, 0x05)), failure},
		{"malformed message value of a replaced entry", s.kitchen, w{}.msg(32, kv(w{}.varint(1, 1), w{}.msg(2, w{}.raw(0x08)))).
			msg(32, kv(w{}.varint(1, 1), w{}.msg(2, nil))), failure},
		{"invalid UTF-8 string", s.kitchen, w{}.str(14, "a\xffb"), failure},
		{"invalid UTF-8 replaced string", s.kitchen, w{}.str(14, "\xc3").str(14, "ok"), failure},
		{"invalid UTF-8 in a list", s.kitchen, w{}.str(25, "\xe2\x82"), failure},
		{"invalid UTF-8 map key", s.kitchen, w{}.msg(30, kv(w{}.str(1, "\xff"), nil)), failure},
		{"invalid UTF-8 in a replaced oneof", s.kitchen, w{}.str(51, "\xff").varint(50, 1), failure},
		{"invalid UTF-8 nested", s.kitchen, w{}.msg(17, w{}.str(2, "\x80")), failure},
		{"surrogate half is not UTF-8", s.kitchen, w{}.str(14, "\xed\xa0\x80"), failure},

		{"proto2 explicit zeros", s.legacy, w{}.varint(1, 0).str(2, "").varint(3, 0).bytes(8, nil).fixed64(9, 0), fast},
		{"proto2 closed enum unknown value", s.legacy, w{}.varint(3, 9).packed(7, 1, 2).varint(5, 3).varint(5, 4), fast},
		{"proto2 map enum default", s.legacy, w{}.msg(4, kv(w{}.str(1, "x"), nil)).msg(4, kv(w{}.str(1, "y"), w{}.varint(2, 1))).msg(4, kv(w{}.str(1, "z"), w{}.varint(2, 5))), fast},
		{"proto2 unvalidated replaced string", s.legacy, w{}.str(2, "\xff").str(2, "ok").msg(10, kv(w{}.varint(1, 1), w{}.str(2, "\xff"))).
			msg(10, kv(w{}.varint(1, 1), w{}.str(2, "fine"))), fast},
		{"proto2 invalid UTF-8 written", s.legacy, w{}.str(2, "\xff"), failure},
		{"proto2 invalid UTF-8 map value written", s.legacy, w{}.msg(10, kv(w{}.varint(1, 1), w{}.str(2, "\xff"))), failure},
		{"proto2 nested", s.legacy, w{}.msg(6, w{}.varint(1, 0).msg(6, nil)), fast},
		// proto.Unmarshal reads what a oneof or map entry replaced, but
		// protojson never writes it: a proto2 string there is not checked.
		{"proto2 invalid UTF-8 in a replaced oneof message", s.legacy, w{}.msg(11, w{}.str(2, "\xff")).varint(12, 1), fast},
		{"proto2 invalid UTF-8 in a replaced map entry", s.legacy, w{}.msg(13, kv(w{}.varint(1, 1), w{}.msg(2, w{}.str(2, "\xff")))).
			msg(13, kv(w{}.varint(1, 1), w{}.msg(2, w{}.varint(1, 4)))), fast},
		{"proto2 invalid UTF-8 in a written oneof message", s.legacy, w{}.varint(12, 1).msg(11, w{}.str(2, "\xff")), failure},
		{"proto2 malformed replaced oneof message", s.legacy, w{}.msg(11, w{}.raw(0x08)).varint(12, 1), failure},

		{"editions", s.edition, w{}.str(1, "a").str(2, "b").varint(3, 0).varint(4, 0).varint(5, 9).packed(6, 1, 2).varint(6, 3).msg(7, w{}.varint(3, 5)), fast},
		{"editions unvalidated string replaced", s.edition, w{}.str(1, "\xff").str(1, "x"), fast},
		{"editions unvalidated string written", s.edition, w{}.str(1, "\xff"), failure},
		{"editions validated string", s.edition, w{}.str(2, "\xff").str(2, "x"), failure},

		{"group", s.withGroup, w{}.raw(0x0b, 0x10, 0x01, 0x0c), fallback},
		{"required", s.withRequired, w{}.varint(1, 1), fallback},
		{"extension range", s.extendable, w{}.varint(1, 1).varint(100, 1), fallback},
		{"nesting past maxDepth", s.kitchen, deep(maxDepth + 5), fallback},
		{"nesting up to maxDepth", s.kitchen, deep(maxDepth), fast},
	}, wellKnownCases(s)...)
}

// deep is a Kitchen nested n levels below the top through child.
func deep(n int) w {
	b := w{}.varint(1, 1)
	for range n {
		b = w{}.msg(70, b)
	}
	return b
}

// TestTranscodeAppends checks the output extends dst and leaves its
// bytes alone, and that fallback and errors leave dst as it was.
func TestTranscodeAppends(t *testing.T) {
	s := newTestSchema(t)
	var tr transcoder
	dst := []byte(`{"x":1}`)
	out, err := tr.transcode(dst[:len(dst):len(dst)], compile(s.kitchen), w{}.varint(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"x":1}{"i32":2}` {
		t.Fatalf("got %s", out)
	}
	out, err = tr.transcode(out, compile(s.kitchen), w{}.varint(1, 2).raw(0x08))
	if err == nil || errors.Is(err, errFallback) {
		t.Fatalf("want a wire error, got %v", err)
	}
	if string(out) != `{"x":1}{"i32":2}` {
		t.Fatalf("error left output %s", out)
	}
}

// TestTranscodeRandomMessages holds the transcoder to protojson on
// messages an encoder writes: random values of every field, with edge
// values favoured, and maps in random order.
func TestTranscodeRandomMessages(t *testing.T) {
	s := newTestSchema(t)
	var tr transcoder
	for _, md := range []protoreflect.MessageDescriptor{s.kitchen, s.legacy, s.edition} {
		p := compile(md)
		r := rand.New(rand.NewPCG(1, uint64(len(md.FullName()))))
		for i := range 2000 {
			b := randomMessage(t, r, md)
			got, err := tr.transcode(nil, p, b)
			if err != nil {
				t.Fatalf("%s #%d: %v", md.FullName(), i, err)
			}
			want, err := reference(md, b)
			if err != nil {
				t.Fatalf("%s #%d: reference: %v", md.FullName(), i, err)
			}
			sameAsProtojson(t, got, want)
		}
	}
}

// randomMessage encodes a random message of type md.
func randomMessage(tb testing.TB, r *rand.Rand, md protoreflect.MessageDescriptor) []byte {
	tb.Helper()
	m := dynamicpb.NewMessage(md)
	populate(r, m, 0)
	b, err := proto.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func populate(r *rand.Rand, m protoreflect.Message, depth int) {
	if populateWellKnown(r, m, depth) {
		return
	}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if r.IntN(3) == 0 {
			continue
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range r.IntN(4) {
				k := randomValue(r, fd.MapKey(), depth).MapKey()
				if fd.MapValue().Message() != nil {
					if depth >= 2 {
						continue
					}
					v := mp.NewValue()
					populate(r, v.Message(), depth+1)
					mp.Set(k, v)
					continue
				}
				mp.Set(k, randomValue(r, fd.MapValue(), depth))
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range r.IntN(4) {
				if fd.Message() != nil {
					if depth >= 2 {
						continue
					}
					v := l.NewElement()
					populate(r, v.Message(), depth+1)
					l.Append(v)
					continue
				}
				l.Append(randomValue(r, fd, depth))
			}
		case fd.Message() != nil:
			if depth < 3 {
				populate(r, m.Mutable(fd).Message(), depth+1)
			}
		default:
			m.Set(fd, randomValue(r, fd, depth))
		}
	}
}

var (
	sampleStrings = []string{"", "a", "héllo", "\"quoted\" \\ back\nslash\t\x00\x1f", "\u2028\u2029 <tag>&", "日本語", "\U0001F600", "\ufffd"}
	sampleFloats  = []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), 1e-7, 1e-6, 1e21, 1e20, 0.1, -1.5,
		math.MaxFloat64, math.SmallestNonzeroFloat64, math.MaxFloat32, math.SmallestNonzeroFloat32, 3.4028234663852886e+38}
	sampleInts = []int64{0, 1, -1, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64, 1 << 53, -(1 << 53) - 1}
)

func randomValue(r *rand.Rand, fd protoreflect.FieldDescriptor, depth int) protoreflect.Value {
	edge := r.IntN(2) == 0
	i := sampleInts[r.IntN(len(sampleInts))]
	if !edge {
		i = int64(r.Uint64())
	}
	f := sampleFloats[r.IntN(len(sampleFloats))]
	if !edge {
		f = (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(60)-30))
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(r.IntN(2) == 0)
	case protoreflect.EnumKind:
		values := fd.Enum().Values()
		if r.IntN(4) == 0 {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(r.Int32N(20) - 10))
		}
		return protoreflect.ValueOfEnum(values.Get(r.IntN(values.Len())).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(i))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(i)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(i))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(i))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(f))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(f)
	case protoreflect.StringKind:
		if edge {
			return protoreflect.ValueOfString(sampleStrings[r.IntN(len(sampleStrings))])
		}
		return protoreflect.ValueOfString(strings.Repeat("xé", r.IntN(5)))
	case protoreflect.BytesKind:
		b := make([]byte, r.IntN(8))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return protoreflect.ValueOfBytes(b)
	}
	panic("no random value of kind " + fd.Kind().String())
}

// TestTranscodePlans checks which types the transcoder takes and which it
// leaves to the reflective decoder, at any depth.
func TestTranscodePlans(t *testing.T) {
	s := newTestSchema(t)
	for _, c := range []struct {
		md       protoreflect.MessageDescriptor
		fallback bool
	}{
		{s.kitchen, false}, {s.inner, false}, {s.sparse, false}, {s.legacy, false}, {s.edition, false},
		{s.timed, false}, {s.outer, false}, {s.known, false}, {s.wkt("Value"), false}, {s.wkt("Empty"), false},
		{(&timestamppb.Timestamp{}).ProtoReflect().Descriptor(), false}, {(&structpb.Value{}).ProtoReflect().Descriptor(), false},
		{s.packed, true}, {s.wkt("Any"), true}, {s.withGroup, true}, {s.withRequired, true}, {s.extendable, true},
	} {
		if got := compile(c.md).fallback; got != c.fallback {
			t.Errorf("%s: fallback %v, want %v", c.md.FullName(), got, c.fallback)
		}
	}
	// A schema without a file it imports has placeholders for its types.
	fd, err := protodesc.FileOptions{AllowUnresolvable: true}.New(&dpb.FileDescriptorProto{
		Name:       proto.String("missing.proto"),
		Package:    proto.String("missing"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"gone.proto"},
		MessageType: []*dpb.DescriptorProto{{
			Name: proto.String("M"),
			Field: []*dpb.FieldDescriptorProto{
				fieldProto("", "m", 1, tMessage, optional, ".gone.Message"),
				fieldProto("", "e", 2, tEnum, optional, ".gone.Enum"),
			},
		}},
	}, s.files)
	if err != nil {
		t.Fatal(err)
	}
	if !compile(fd.Messages().Get(0)).fallback {
		t.Error("a message with placeholder types should fall back")
	}
	if p := compile(s.sparse); p.sparse == nil || p.byNum != nil {
		t.Error("a message with a field number past maxDense should look fields up in a map")
	}
}

// TestWriter checks Append, fast path and fallback alike, against the
// reflective decoder.
func TestWriter(t *testing.T) {
	s := newTestSchema(t)
	wr := NewWriter(dynamicpb.NewTypes(s.files))
	r := rand.New(rand.NewPCG(7, 7))
	var msgs [][]byte
	for range 20 {
		msgs = append(msgs, randomMessage(t, r, s.kitchen))
	}
	msgs = append(msgs, nil, deep(maxDepth+1), w{}.msg(17, nil).msg(17, nil))
	for _, b := range msgs {
		got, err := wr.Append([]byte("prefix"), s.kitchen, b)
		if err != nil {
			t.Fatal(err)
		}
		want, err := reference(s.kitchen, b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(got, []byte("prefix")) {
			t.Fatalf("output does not extend dst: %q", got)
		}
		sameAsProtojson(t, got[len("prefix"):], want)
	}

	at := timestamppb.New(timestamppb.Now().AsTime())
	tb, err := proto.Marshal(at)
	if err != nil {
		t.Fatal(err)
	}
	anyTime, err := anypb.New(at)
	if err != nil {
		t.Fatal(err)
	}
	ab, err := proto.Marshal(anyTime)
	if err != nil {
		t.Fatal(err)
	}
	timed := w{}.msg(1, tb).msg(2, w{}.varint(1, 1))
	for _, c := range []struct {
		md protoreflect.MessageDescriptor
		b  w
	}{
		{s.outer, w{}.msg(1, timed).msg(1, nil)},
		// Any is left to the reflective decoder.
		{s.packed, w{}.msg(1, ab).msg(2, timed)},
	} {
		got, err := wr.Append(nil, c.md, c.b)
		if err != nil {
			t.Fatal(err)
		}
		want, err := reference(c.md, c.b)
		if err != nil {
			t.Fatal(err)
		}
		sameAsProtojson(t, got, want)
	}

	if got, err := wr.Append([]byte("prefix"), s.kitchen, w{}.raw(0x08)); err == nil || string(got) != "prefix" {
		t.Fatalf("malformed message: got %q, %v; want dst as it was and an error", got, err)
	}
	if got, err := wr.Append([]byte("prefix"), s.packed, w{}.raw(0x08)); err == nil || string(got) != "prefix" {
		t.Fatalf("malformed message on the fallback path: got %q, %v; want dst as it was and an error", got, err)
	}
	// The transcoder leaves a Timestamp out of range to protojson, whose
	// error Append returns.
	if _, err := wr.Append(nil, s.outer, w{}.msg(1, w{}.msg(1, stamp(1<<40, 0)))); err == nil || !strings.Contains(err.Error(), "seconds out of range") {
		t.Fatalf("timestamp out of range: got %v", err)
	}
	// proto.Unmarshal panics on this one (see errMapKey).
	crash := w{}.msg(2, w{}.msg(3, w{}.str(1, "a").varint(1, 1)))
	if _, err := wr.Append(nil, s.packed, crash); err == nil {
		t.Fatal("map entry proto.Unmarshal panics on, on the fallback path: no error")
	}
	if _, err := Unmarshal(crash, s.packed, wr.types); err == nil {
		t.Fatal("map entry proto.Unmarshal panics on: Unmarshal gives no error")
	}
}

// TestWriterConcurrent runs Append from several goroutines, as the
// pipeline's workers do; run with -race it checks the pooled scratch and
// the plan cache are not shared unsafely.
func TestWriterConcurrent(t *testing.T) {
	s := newTestSchema(t)
	wr := NewWriter(dynamicpb.NewTypes(s.files))
	r := rand.New(rand.NewPCG(3, 3))
	var msgs [][]byte
	for range 50 {
		msgs = append(msgs, randomMessage(t, r, s.kitchen))
	}
	want := make([][]byte, len(msgs))
	for i, b := range msgs {
		var err error
		if want[i], err = reference(s.kitchen, b); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := range 20 {
				k := (g*7 + i) % len(msgs)
				doc, err := wr.Append(nil, s.kitchen, msgs[k])
				if err != nil {
					errs <- err
					return
				}
				got, err := jsonValue(doc)
				if err != nil {
					errs <- err
					return
				}
				ref, err := jsonValue(want[k])
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(got, ref) {
					errs <- fmt.Errorf("concurrent Append differs from protojson:\n got: %s\nwant: %s", doc, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
