package pbjson

import (
	"math"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	dpb "google.golang.org/protobuf/types/descriptorpb"

	"github.com/podtap/podtap/internal/grpcdemo"
)

// Wire builders of the well-known types.

// stamp is a Timestamp or Duration: seconds = 1, nanos = 2, negative
// numbers sign-extended as encoders write them.
func stamp(secs int64, nanos int32) w {
	return w{}.varint(1, uint64(secs)).varint(2, uint64(int64(nanos)))
}

// Values by kind: null_value = 1, number_value = 2, string_value = 3,
// bool_value = 4, struct_value = 5, list_value = 6.
func nullV() w         { return w{}.varint(1, 0) }
func numV(f float64) w { return w{}.fixed64(2, f64(f)) }
func strV(s string) w  { return w{}.str(3, s) }
func boolV(b bool) w {
	if b {
		return w{}.varint(4, 1)
	}
	return w{}.varint(4, 0)
}
func structV(fields w) w     { return w{}.msg(5, fields) }
func listV(values w) w       { return w{}.msg(6, values) }
func member(k string, v w) w { return w{}.msg(1, kv(w{}.str(1, k), w{}.msg(2, v))) }

// obj is a Struct of members; vals is a ListValue of values.
func obj(members ...w) w {
	var b w
	for _, m := range members {
		b = append(b, m...)
	}
	return b
}

func vals(values ...w) w {
	var b w
	for _, v := range values {
		b = b.msg(1, v)
	}
	return b
}

// paths is a FieldMask.
func paths(ps ...string) w {
	var b w
	for _, p := range ps {
		b = b.str(1, p)
	}
	return b
}

// nestedLists is a Value of n list_values nested in each other, each a
// Value and a ListValue deep.
func nestedLists(n int) w {
	v := nullV()
	for range n {
		v = listV(vals(v))
	}
	return v
}

// wellKnownCases are the well-known types in every place a type can be:
// Known's fields, singular, repeated, map values and oneof members, and
// at the top.
func wellKnownCases(s *testSchema) []transcodeCase {
	k := s.known
	neg := func(v int64) uint64 { return uint64(v) }
	const maxD = maxDurationSeconds
	return []transcodeCase{
		{"timestamp epoch", k, w{}.msg(1, nil), fast},
		{"timestamp", k, w{}.msg(1, stamp(1700000000, 0)), fast},
		{"timestamp nanos only", k, w{}.msg(1, stamp(0, 5)), fast},
		{"timestamp fraction digits", k, w{}.msg(20, stamp(1, 500000000)).msg(20, stamp(1, 120000000)).msg(20, stamp(1, 123456000)).
			msg(20, stamp(1, 123456789)).msg(20, stamp(1, 1000)).msg(20, stamp(1, 10)).msg(20, stamp(1, 999999999)), fast},
		{"timestamp before the epoch", k, w{}.msg(1, stamp(-1, 500000000)), fast},
		{"timestamp leap day", k, w{}.msg(1, stamp(951868799, 1000000)).msg(20, stamp(-2203977600, 0)), fast},
		{"timestamp min", k, w{}.msg(1, stamp(minTimestampSeconds, 0)), fast},
		{"timestamp max", k, w{}.msg(1, stamp(maxTimestampSeconds, maxNanos)), fast},
		{"timestamp before min", k, w{}.msg(1, stamp(minTimestampSeconds-1, maxNanos)), refused},
		{"timestamp after max", k, w{}.msg(1, stamp(maxTimestampSeconds+1, 0)), refused},
		{"timestamp huge seconds", k, w{}.msg(1, stamp(math.MinInt64, 0)), refused},
		{"timestamp negative nanos", k, w{}.msg(1, stamp(0, -1)), refused},
		{"timestamp nanos of a whole second", k, w{}.msg(1, stamp(0, 1e9)), refused},
		{"timestamp nanos keep the low 32 bits", k, w{}.msg(1, w{}.varint(2, 1<<32|7)), fast},
		{"timestamp nanos negative in the low 32 bits", k, w{}.msg(1, w{}.varint(2, 1<<32-1)), refused},
		{"timestamp fields repeated, last wins", k, w{}.msg(1, stamp(5, 5).varint(1, 10).varint(2, 0)), fast},
		{"timestamp out of range then in range", k, w{}.msg(1, w{}.varint(1, 1<<62).varint(1, 3)), fast},
		{"timestamp unknown and mistyped fields", k, w{}.msg(1, w{}.varint(3, 1).fixed64(1, 9).str(2, "x").varint(1, 60)), fast},
		{"timestamp malformed", k, w{}.msg(1, w{}.raw(0x08)), failure},
		{"timestamp seen twice merges", k, w{}.msg(1, stamp(1, 0)).msg(1, w{}.varint(2, 5)), fallback},
		{"timestamp list with one out of range", k, w{}.msg(20, stamp(1, 0)).msg(20, stamp(0, -5)), refused},
		{"timestamp map values", k, w{}.msg(30, kv(w{}.str(1, "b"), w{}.msg(2, stamp(86400, 1)))).msg(30, kv(w{}.str(1, "a"), nil)).
			msg(30, kv(w{}.str(1, "c"), w{}.msg(2, nil))), fast},
		{"timestamp map value seen twice in an entry merges", k, w{}.msg(30, kv(w{}.str(1, "a"), w{}.msg(2, stamp(1, 0)).msg(2, stamp(2, 0)))), fallback},
		// protojson does not write what a later entry replaced.
		{"out-of-range timestamp in a replaced map entry", k, w{}.msg(30, kv(w{}.str(1, "a"), w{}.msg(2, stamp(1<<62, 0)))).
			msg(30, kv(w{}.str(1, "a"), w{}.msg(2, stamp(1, 0)))), fast},
		{"timestamp oneof member", k, w{}.msg(40, stamp(1, 1)), fast},
		{"timestamp oneof member replaced", k, w{}.msg(40, stamp(1, 1)).msg(41, stamp(-1, 0)), fast},
		{"out-of-range timestamp in a replaced oneof member", k, w{}.msg(40, stamp(1<<62, 0)).varint(44, 0), fast},
		{"malformed timestamp in a replaced oneof member", k, w{}.msg(40, w{}.raw(0x10)).varint(44, 0), failure},

		{"duration", k, w{}.msg(2, stamp(1, 500000000)), fast},
		{"duration zero", k, w{}.msg(2, nil), fast},
		{"durations", k, w{}.msg(21, stamp(-1, -500000000)).msg(21, stamp(0, -5)).msg(21, stamp(0, 5)).msg(21, stamp(-5, 0)).
			msg(21, stamp(3, 1000)).msg(21, stamp(maxD, maxNanos)).msg(21, stamp(-maxD, -maxNanos)).msg(21, stamp(0, -maxNanos)).
			msg(21, stamp(-1, 0)).msg(21, stamp(12, 345678000)), fast},
		{"duration past max", k, w{}.msg(2, stamp(maxD+1, 0)), refused},
		{"duration past min", k, w{}.msg(2, stamp(-maxD-1, 0)), refused},
		{"duration signs differ", k, w{}.msg(2, stamp(1, -1)), refused},
		{"duration signs differ, negative seconds", k, w{}.msg(2, stamp(-1, 1)), refused},
		{"duration nanos of a whole second", k, w{}.msg(2, stamp(0, 1e9)), refused},
		{"duration negative nanos of a whole second", k, w{}.msg(2, stamp(0, -1e9)), refused},
		{"duration map int32 keys", k, w{}.msg(31, kv(w{}.varint(1, 10), w{}.msg(2, stamp(10, 0)))).msg(31, kv(w{}.varint(1, neg(-1)), w{}.msg(2, stamp(0, -1)))).
			msg(31, kv(w{}.varint(1, 2), nil)), fast},
		{"duration oneof member", k, w{}.msg(41, stamp(-2, -1)), fast},

		{"empty", k, w{}.msg(3, nil), fast},
		{"empty with unknown fields", k, w{}.msg(3, w{}.varint(1, 5).str(2, "x")), fast},
		{"empty malformed", k, w{}.msg(3, w{}.raw(0x08)), failure},
		{"empty list, map, oneof", k, w{}.msg(27, nil).msg(27, nil).msg(35, kv(w{}.str(1, "a"), nil)).msg(35, kv(w{}.str(1, "b"), w{}.msg(2, nil))).msg(45, nil), fast},

		{"wrappers", k, w{}.msg(4, w{}.fixed64(1, f64(-2.5))).msg(5, w{}.fixed32(1, f32(0.1))).msg(6, w{}.varint(1, neg(math.MinInt64))).
			msg(7, w{}.varint(1, math.MaxUint64)).msg(8, w{}.varint(1, neg(-5))).msg(9, w{}.varint(1, math.MaxUint32)).msg(10, w{}.varint(1, 1)).
			msg(11, w{}.str(1, "q\"\n\u2028")).msg(12, w{}.bytes(1, []byte{0, 0xff, 7})), fast},
		{"wrappers without a value are zero", k, w{}.msg(4, nil).msg(5, nil).msg(6, nil).msg(7, nil).msg(8, nil).msg(9, nil).msg(10, nil).
			msg(11, nil).msg(12, nil), fast},
		{"wrappers with explicit zeros", k, w{}.msg(6, w{}.varint(1, 0)).msg(11, w{}.str(1, "")).msg(10, w{}.varint(1, 0)).msg(12, w{}.bytes(1, nil)), fast},
		{"wrappers non-finite", k, w{}.msg(4, w{}.fixed64(1, f64(math.NaN()))).msg(5, w{}.fixed32(1, f32(float32(math.Inf(-1))))), fast},
		{"wrapper negative zero", k, w{}.msg(4, w{}.fixed64(1, f64(math.Copysign(0, -1)))), fast},
		{"wrapper int32 keeps the low 32 bits", k, w{}.msg(8, w{}.varint(1, 1<<32|3)).msg(9, w{}.varint(1, 1<<33|4)), fast},
		{"wrapper last value wins, mistyped skipped", k, w{}.msg(6, w{}.varint(1, 1).fixed64(1, 2).varint(1, 3).varint(2, 4)), fast},
		{"wrapper seen twice merges", k, w{}.msg(6, w{}.varint(1, 1)).msg(6, nil), fallback},
		{"string wrapper invalid UTF-8", k, w{}.msg(11, w{}.str(1, "\xff")), failure},
		{"wrapper lists, maps, oneof", k, w{}.msg(24, nil).msg(24, w{}.varint(1, 7)).msg(25, w{}.str(1, "s")).msg(25, nil).
			msg(33, kv(w{}.str(1, "x"), nil)).msg(33, kv(w{}.str(1, "y"), w{}.msg(2, w{}.str(1, "v")))).
			msg(36, kv(w{}.varint(1, 1), w{}.msg(2, w{}.fixed64(1, f64(1e300))))).msg(36, kv(w{}.varint(1, 0), nil)).msg(43, nil), fast},
		{"string wrapper oneof member without a value", k, w{}.msg(46, nil), fast},

		{"field mask", k, w{}.msg(13, paths("foo_bar", "a.b_c.d", "x1", "_a", "a_b1", "snake_case_x.y_z")), fast},
		{"field mask without paths", k, w{}.msg(13, nil), fast},
		{"field mask path with a capital", k, w{}.msg(13, paths("ok", "fooBar")), refused},
		{"field mask path with a double underscore", k, w{}.msg(13, paths("foo__bar")), refused},
		{"field mask path with a trailing underscore", k, w{}.msg(13, paths("foo_")), refused},
		{"field mask path with an underscore before a digit", k, w{}.msg(13, paths("foo_1")), refused},
		{"field mask path with an underscore before a dot", k, w{}.msg(13, paths("a_.b")), refused},
		{"field mask empty path", k, w{}.msg(13, paths("")), refused},
		{"field mask path with a leading digit", k, w{}.msg(13, paths("1a")), refused},
		{"field mask path with an empty segment", k, w{}.msg(13, paths("a..b")), refused},
		{"field mask path with a trailing dot", k, w{}.msg(13, paths("a.")), refused},
		{"field mask path with a leading dot", k, w{}.msg(13, paths(".a")), refused},
		{"field mask path not ASCII", k, w{}.msg(13, paths("é")), refused},
		{"field mask path with a space", k, w{}.msg(13, paths("a b")), refused},
		{"field mask path not UTF-8", k, w{}.msg(13, paths("\xff")), failure},
		{"field mask list and map", k, w{}.msg(26, paths("a_b")).msg(26, nil).msg(39, kv(w{}.str(1, "m"), w{}.msg(2, paths("x", "y_z")))).
			msg(39, kv(w{}.str(1, "n"), nil)), fast},

		{"value kinds", k, w{}.msg(22, nullV()).msg(22, w{}.varint(1, 3)).msg(22, numV(1.5)).msg(22, numV(math.Copysign(0, -1))).msg(22, numV(1e21)).
			msg(22, numV(5e-324)).msg(22, strV("s\"")).msg(22, strV("")).msg(22, boolV(false)).msg(22, boolV(true)).msg(22, structV(nil)).
			msg(22, listV(nil)), fast},
		{"value number NaN", k, w{}.msg(15, numV(math.NaN())), refused},
		{"value number infinity", k, w{}.msg(15, numV(math.Inf(-1))), refused},
		{"value with nothing set", k, w{}.msg(15, nil), refused},
		{"value with unknown fields only", k, w{}.msg(15, w{}.varint(9, 1).fixed64(3, 1)), refused},
		{"value last member wins", k, w{}.msg(15, strV("a").fixed64(2, f64(2))), fast},
		{"value same member twice", k, w{}.msg(15, strV("a").str(3, "b")), fast},
		{"value replaced non-finite number", k, w{}.msg(15, numV(math.NaN()).varint(4, 1)), fast},
		{"value replaced struct must be valid", k, w{}.msg(15, w{}.msg(5, w{}.raw(0x08)).varint(4, 1)), failure},
		{"value replaced struct holding an empty value", k, w{}.msg(15, structV(member("a", nil)).varint(4, 1)), fast},
		{"value replaced struct holding a malformed value", k, w{}.msg(15, structV(member("a", w{}.raw(0x12))).varint(4, 1)), failure},
		{"value struct seen twice merges", k, w{}.msg(15, structV(nil).msg(5, nil)), fallback},
		{"struct", k, w{}.msg(14, obj(member("b", numV(1)), member("a", strV("x")), member("c", nullV()),
			member("nested", structV(obj(member("x", listV(vals(boolV(true), nullV())))))))), fast},
		{"struct keys sorted, last wins", k, w{}.msg(14, obj(member("b", numV(1)), member("a", numV(2)), member("b", numV(3)), member("B", numV(4)))), fast},
		{"struct replaced member not written", k, w{}.msg(14, obj(member("a", numV(math.NaN())), member("a", nullV()))), fast},
		{"struct without members", k, w{}.msg(14, nil), fast},
		{"struct member without a value", k, w{}.msg(14, w{}.msg(1, kv(w{}.str(1, "a"), nil))), refused},
		{"struct member with an empty value", k, w{}.msg(14, obj(member("a", nil))), refused},
		{"struct key escapes", k, w{}.msg(14, obj(member("a\"\n\u2028<", nullV()), member("", nullV()))), fast},
		{"struct key not UTF-8", k, w{}.msg(14, obj(member("\xff", nullV()))), failure},
		{"list value", k, w{}.msg(16, vals(numV(1), strV("s"), nullV(), listV(vals()), structV(obj()), listV(vals(numV(-1))))), fast},
		{"list value empty", k, w{}.msg(16, nil), fast},
		{"list value with an empty value", k, w{}.msg(16, vals(nullV(), nil)), refused},
		{"value maps", k, w{}.msg(32, kv(w{}.str(1, "v"), w{}.msg(2, numV(3)))).msg(37, kv(w{}.str(1, "o"), nil)).
			msg(37, kv(w{}.str(1, "p"), w{}.msg(2, obj(member("q", boolV(true)))))).msg(38, kv(w{}.str(1, "l"), nil)).
			msg(38, kv(w{}.str(1, "m"), w{}.msg(2, vals(strV("x"))))), fast},
		{"value map entry without a value", k, w{}.msg(32, kv(w{}.str(1, "v"), nil)), refused},
		{"value oneof member", k, w{}.msg(42, nullV()), fast},
		{"value nesting", k, w{}.msg(15, nestedLists(maxDepth/2-2)), fast},
		{"value nesting past maxDepth", k, w{}.msg(15, nestedLists(maxDepth/2+2)), fallback},

		{"null value unset", k, w{}.varint(17, 0), fast},
		{"null value of another number", k, w{}.varint(17, 3), fast},
		{"null value list", k, w{}.packed(23, 0, 5).varint(23, 1), fast},
		{"null value map", k, w{}.msg(34, kv(w{}.str(1, "a"), nil)).msg(34, kv(w{}.str(1, "b"), w{}.varint(2, 0))).msg(34, kv(w{}.str(1, "c"), w{}.varint(2, 9))), fast},
		{"null value oneof member", k, w{}.varint(44, 0), fast},
		{"null value optional", k, w{}.varint(47, 0), fast},

		{"well-known types in a child", k, w{}.msg(50, w{}.msg(1, stamp(1, 1)).msg(15, nullV()).msg(50, w{}.msg(2, stamp(1, 0)))), fast},
		{"well-known types nested in plain messages", s.outer, w{}.msg(1, w{}.msg(1, stamp(1, 2)).msg(2, w{}.varint(1, 1))).msg(1, nil), fast},
		{"any", s.packed, w{}.msg(1, w{}.str(1, "type.googleapis.com/google.protobuf.Empty")), fallback},
		{"any reached, unset", s.packed, w{}.msg(2, nil), fallback},

		{"top-level timestamp", s.wkt("Timestamp"), stamp(1, 2), fast},
		{"top-level timestamp unset", s.wkt("Timestamp"), nil, fast},
		{"top-level timestamp out of range", s.wkt("Timestamp"), stamp(1<<40, 0), refused},
		{"top-level duration", s.wkt("Duration"), stamp(-7, -7000000), fast},
		{"top-level duration signs differ", s.wkt("Duration"), stamp(-7, 7), refused},
		{"top-level empty", s.wkt("Empty"), w{}.varint(5, 1), fast},
		{"top-level wrapper", s.wkt("Int64Value"), nil, fast},
		{"top-level bytes wrapper", s.wkt("BytesValue"), w{}.bytes(1, []byte("hi")), fast},
		{"top-level string wrapper", s.wkt("StringValue"), w{}.str(1, "x"), fast},
		{"top-level field mask", s.wkt("FieldMask"), paths("a_b", "c"), fast},
		{"top-level value", s.wkt("Value"), nullV(), fast},
		{"top-level value with nothing set", s.wkt("Value"), nil, refused},
		{"top-level struct", s.wkt("Struct"), obj(member("k", listV(vals(numV(1), strV("x"))))), fast},
		{"top-level list value", s.wkt("ListValue"), vals(boolV(true), nullV()), fast},
		{"top-level any", s.wkt("Any"), nil, fallback},
	}
}

// populateWellKnown fills m as populate does when it is a well-known type
// with a JSON form of its own, with the values where protojson changes
// form favoured, and now and then (1 in 60) a value protojson refuses.
// It says whether m was such a type.
func populateWellKnown(r *rand.Rand, m protoreflect.Message, depth int) bool {
	md := m.Descriptor()
	if md.FullName().Parent() != wellKnownPackage {
		return false
	}
	fields := md.Fields()
	set := func(name protoreflect.Name, v protoreflect.Value) { m.Set(fields.ByName(name), v) }
	bad := r.IntN(60) == 0
	pick := func(vs ...int64) int64 { return vs[r.IntN(len(vs))] }
	switch md.Name() {
	case "Timestamp":
		secs := pick(minTimestampSeconds, maxTimestampSeconds, 0, -1, 1, 1700000000, r.Int64N(maxTimestampSeconds-minTimestampSeconds+1)+minTimestampSeconds)
		nanos := pick(0, 1, maxNanos, 5e8, 123456000, 1000, r.Int64N(1e9))
		if bad {
			secs, nanos = pick(minTimestampSeconds-1, maxTimestampSeconds+1, secs), pick(nanos, -1, 1e9)
		}
		set("seconds", protoreflect.ValueOfInt64(secs))
		set("nanos", protoreflect.ValueOfInt32(int32(nanos)))
	case "Duration":
		secs := pick(maxDurationSeconds, -maxDurationSeconds, 0, 1, -1, r.Int64N(2*maxDurationSeconds+1)-maxDurationSeconds)
		nanos := pick(0, 1, maxNanos, 5e8, 1000, r.Int64N(1e9))
		if secs < 0 || (secs == 0 && r.IntN(2) == 0) {
			nanos = -nanos
		}
		if bad {
			secs, nanos = pick(maxDurationSeconds+1, -maxDurationSeconds-1, secs), pick(nanos, -nanos, 1e9, -1e9)
		}
		set("seconds", protoreflect.ValueOfInt64(secs))
		set("nanos", protoreflect.ValueOfInt32(int32(nanos)))
	case "FieldMask":
		l := m.Mutable(fields.ByName("paths")).List()
		good := []string{"a", "foo_bar", "foo.bar_baz", "a1.b2_c", "_x", "x.y.z"}
		for range r.IntN(4) {
			l.Append(protoreflect.ValueOfString(good[r.IntN(len(good))]))
		}
		if bad {
			refused := []string{"FooBar", "foo__bar", "foo_", "1a", "", "a..b", "foo_1", "é"}
			l.Append(protoreflect.ValueOfString(refused[r.IntN(len(refused))]))
		}
	case "Struct":
		mp := m.Mutable(fields.ByName("fields")).Map()
		for range r.IntN(4) {
			v := mp.NewValue()
			populate(r, v.Message(), depth+1)
			mp.Set(protoreflect.ValueOfString(sampleStrings[r.IntN(len(sampleStrings))]).MapKey(), v)
		}
	case "ListValue":
		l := m.Mutable(fields.ByName("values")).List()
		for range r.IntN(4) {
			v := l.NewElement()
			populate(r, v.Message(), depth+1)
			l.Append(v)
		}
	case "Value":
		kinds := 6
		if depth >= 4 {
			kinds = 4
		}
		switch r.IntN(kinds) {
		case 0:
			set("null_value", protoreflect.ValueOfEnum(0))
		case 1:
			f := sampleFloats[r.IntN(len(sampleFloats))]
			for !bad && (math.IsNaN(f) || math.IsInf(f, 0)) {
				f = sampleFloats[r.IntN(len(sampleFloats))]
			}
			set("number_value", protoreflect.ValueOfFloat64(f))
		case 2:
			set("string_value", protoreflect.ValueOfString(sampleStrings[r.IntN(len(sampleStrings))]))
		case 3:
			set("bool_value", protoreflect.ValueOfBool(r.IntN(2) == 0))
		case 4:
			populate(r, m.Mutable(fields.ByName("struct_value")).Message(), depth+1)
		case 5:
			populate(r, m.Mutable(fields.ByName("list_value")).Message(), depth+1)
		}
		if bad && r.IntN(2) == 0 {
			// A Value with nothing set.
			m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
				m.Clear(fd)
				return true
			})
		}
	default:
		return false
	}
	return true
}

// TestTranscodeWellKnownCopies checks the transcoder takes a schema's own
// copy of a well-known type only when its fields are the ones protojson
// expects: protojson picks the form by name, then reads fields by
// number, and fails or writes oddly on other fields.
func TestTranscodeWellKnownCopies(t *testing.T) {
	f := func(name string, num int32, typ dpb.FieldDescriptorProto_Type, label dpb.FieldDescriptorProto_Label, typeName string) *dpb.FieldDescriptorProto {
		return fieldProto("google.protobuf", name, num, typ, label, typeName)
	}
	value := func(oneof string, fields ...*dpb.FieldDescriptorProto) *dpb.DescriptorProto {
		for _, fd := range fields {
			fd.OneofIndex = proto.Int32(0)
		}
		return &dpb.DescriptorProto{Name: proto.String("Value"), Field: fields, OneofDecl: []*dpb.OneofDescriptorProto{{Name: proto.String(oneof)}}}
	}
	valueFields := func() []*dpb.FieldDescriptorProto {
		return []*dpb.FieldDescriptorProto{
			f("null_value", 1, tEnum, optional, "NullValue"), f("number_value", 2, tDouble, optional, ""),
			f("string_value", 3, tString, optional, ""), f("bool_value", 4, tBool, optional, ""),
			f("struct_value", 5, tMessage, optional, "Struct"), f("list_value", 6, tMessage, optional, "ListValue"),
		}
	}
	structType := &dpb.DescriptorProto{Name: proto.String("Struct")}
	mapField("google.protobuf", structType, "fields", 1, tString, tMessage, "Value")
	list := &dpb.DescriptorProto{Name: proto.String("ListValue"), Field: []*dpb.FieldDescriptorProto{f("values", 1, tMessage, repeated, "Value")}}
	nullEnum := []*dpb.EnumDescriptorProto{{Name: proto.String("NullValue"), Value: []*dpb.EnumValueDescriptorProto{{Name: proto.String("NULL_VALUE"), Number: proto.Int32(0)}}}}
	// b is a message of the first type, for the copies taken.
	for _, c := range []struct {
		name     string
		msgs     []*dpb.DescriptorProto
		enums    []*dpb.EnumDescriptorProto
		fallback bool
		b        w
	}{
		{"timestamp as reflection sends it", []*dpb.DescriptorProto{{Name: proto.String("Timestamp"), Field: []*dpb.FieldDescriptorProto{
			f("seconds", 1, tInt64, optional, ""), f("nanos", 2, tInt32, optional, "")}}}, nil, false, stamp(1, 2)},
		{"timestamp of other names", []*dpb.DescriptorProto{{Name: proto.String("Timestamp"), Field: []*dpb.FieldDescriptorProto{
			f("s", 1, tInt64, optional, ""), f("n", 2, tInt32, optional, "")}}}, nil, false, stamp(-1, 5)},
		{"timestamp of other kinds", []*dpb.DescriptorProto{{Name: proto.String("Timestamp"), Field: []*dpb.FieldDescriptorProto{
			f("seconds", 1, tSint64, optional, ""), f("nanos", 2, tInt32, optional, "")}}}, nil, true, nil},
		{"timestamp with another field", []*dpb.DescriptorProto{{Name: proto.String("Timestamp"), Field: []*dpb.FieldDescriptorProto{
			f("seconds", 1, tInt64, optional, ""), f("nanos", 2, tInt32, optional, ""), f("zone", 3, tString, optional, "")}}}, nil, true, nil},
		{"duration repeated", []*dpb.DescriptorProto{{Name: proto.String("Duration"), Field: []*dpb.FieldDescriptorProto{
			f("seconds", 1, tInt64, repeated, ""), f("nanos", 2, tInt32, optional, "")}}}, nil, true, nil},
		{"wrapper of another kind", []*dpb.DescriptorProto{{Name: proto.String("Int64Value"), Field: []*dpb.FieldDescriptorProto{
			f("value", 1, tInt32, optional, "")}}}, nil, true, nil},
		{"wrapper of another number", []*dpb.DescriptorProto{{Name: proto.String("BoolValue"), Field: []*dpb.FieldDescriptorProto{
			f("value", 2, tBool, optional, "")}}}, nil, true, nil},
		{"field mask singular", []*dpb.DescriptorProto{{Name: proto.String("FieldMask"), Field: []*dpb.FieldDescriptorProto{
			f("paths", 1, tString, optional, "")}}}, nil, true, nil},
		{"struct, value and list as reflection sends them", []*dpb.DescriptorProto{structType, value("kind", valueFields()...), list}, nullEnum, false,
			obj(member("a", listV(vals(nullV(), numV(2)))), member("b", structV(obj(member("c", strV("d"))))))},
		{"value with its oneof renamed", []*dpb.DescriptorProto{structType, value("k", valueFields()...), list}, nullEnum, true, nil},
		{"value with a field missing", []*dpb.DescriptorProto{structType, value("kind", valueFields()[:5]...), list}, nullEnum, true, nil},
		{"a type of the package without a form of its own", []*dpb.DescriptorProto{{Name: proto.String("Custom"), Field: []*dpb.FieldDescriptorProto{
			f("seconds", 1, tInt64, optional, "")}}}, nil, false, w{}.varint(1, 1)},
		{"any", []*dpb.DescriptorProto{{Name: proto.String("Any"), Field: []*dpb.FieldDescriptorProto{
			f("type_url", 1, tString, optional, ""), f("value", 2, tBytes, optional, "")}}}, nil, true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			fd, err := protodesc.NewFile(&dpb.FileDescriptorProto{
				Name: proto.String("google/protobuf/copy.proto"), Package: proto.String("google.protobuf"), Syntax: proto.String("proto3"),
				MessageType: c.msgs, EnumType: c.enums,
			}, new(protoregistry.Files))
			if err != nil {
				t.Fatal(err)
			}
			md := fd.Messages().Get(0)
			if got := compile(md).fallback; got != c.fallback {
				t.Fatalf("%s: fallback %v, want %v", md.FullName(), got, c.fallback)
			}
			if !c.fallback {
				check(t, md, c.b, fast)
			}
		})
	}
}

// TestTranscodeWellKnownRandom holds the transcoder to protojson on
// encoder-written well-known types, in Known and at the top: where
// protojson writes them, the same JSON, never a fallback (encoders write
// nothing that needs one); where it refuses, a fallback or an error.
func TestTranscodeWellKnownRandom(t *testing.T) {
	s := newTestSchema(t)
	var tr transcoder
	for _, c := range []struct {
		md protoreflect.MessageDescriptor
		// refuses: populateWellKnown makes values of md protojson refuses.
		refuses bool
	}{
		{s.known, true}, {s.wkt("Value"), true}, {s.wkt("Struct"), true}, {s.wkt("ListValue"), true},
		{s.wkt("Timestamp"), true}, {s.wkt("Duration"), true}, {s.wkt("FieldMask"), true},
		{s.wkt("DoubleValue"), false}, {s.wkt("Empty"), false},
	} {
		md := c.md
		p := compile(md)
		r := rand.New(rand.NewPCG(2, uint64(len(md.FullName()))))
		const n = 1500
		refused := 0
		for i := range n {
			b := randomMessage(t, r, md)
			want, refErr := reference(md, b)
			got, err := tr.transcode(nil, p, b)
			switch {
			case refErr != nil:
				if err == nil {
					t.Fatalf("%s #%d: transcoded to %s, but protojson fails: %v", md.FullName(), i, got, refErr)
				}
				refused++
			case err != nil:
				t.Fatalf("%s #%d: %v; protojson writes %s", md.FullName(), i, err, want)
			default:
				sameAsProtojson(t, got, want)
			}
		}
		// Bad values are 1 in 60, so most messages are fine, and with a
		// thousand and more some are not.
		if refused > n/2 || c.refuses != (refused > 0) {
			t.Errorf("%s: %d of %d messages refused by protojson: the generator is off", md.FullName(), refused, n)
		}
	}
}

// TestTranscodeWellKnownReply checks the demo service's reply, which
// carries a Timestamp, is transcoded rather than left to the reflective
// decoder: it is what BenchmarkGRPCReplay decodes.
func TestTranscodeWellKnownReply(t *testing.T) {
	demo, err := grpcdemo.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(demo.NewReply("hello", 7, 1, []byte("blob")))
	if err != nil {
		t.Fatal(err)
	}
	check(t, demo.Reply, b, fast)
}
