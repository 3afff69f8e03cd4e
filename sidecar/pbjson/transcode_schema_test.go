package pbjson

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	dpb "google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The transcoder's test schema: a proto3 file with every kind of field,
// one with the well-known types in every place a type can be, a proto2
// file, an editions file, and the types the transcoder leaves to the
// reflective decoder.
//
//	enum Color { COLOR_UNSPECIFIED = 0; RED = 1; CRIMSON = 1; GREEN = 2; BLUE = -3; FAR = 100000; }
//	message Inner { int32 a = 1; string b = 2; repeated Inner deep = 3; Color c = 4; }
//	message Sparse { int32 low = 1; string high = 536870911; }
//	message Kitchen {
//	  string s = 14; int32 i32 = 1; int64 i64 = 2; ... (every scalar, declared out of number order)
//	  repeated ... ; map<K, V> for every key kind ...;
//	  oneof choice { ... } optional ...; Kitchen child = 70; ...
//	}
//	message Timed { google.protobuf.Timestamp at = 1; Inner inner = 2; map<string, int32> tags = 3; }
//	message Outer { repeated Timed timed = 1; }
//	message Packed { google.protobuf.Any any = 1; Timed timed = 2; }
const (
	testPkg    = "podtap.transcode.v1"
	legacyPkg  = "podtap.transcode.legacy"
	editionPkg = "podtap.transcode.ed"
)

type testSchema struct {
	kitchen, inner, sparse, timed, outer, packed protoreflect.MessageDescriptor
	known                                        protoreflect.MessageDescriptor
	legacy, withGroup, withRequired, extendable  protoreflect.MessageDescriptor
	edition                                      protoreflect.MessageDescriptor
	files                                        *protoregistry.Files
	// wkts holds the schema's well-known types by name: "Timestamp" ...
	wkts map[protoreflect.Name]protoreflect.MessageDescriptor
}

// wkt is the schema's well-known type google.protobuf.name.
func (s *testSchema) wkt(name protoreflect.Name) protoreflect.MessageDescriptor {
	md, ok := s.wkts[name]
	if !ok {
		panic("no well-known type " + name)
	}
	return md
}

var (
	tDouble   = dpb.FieldDescriptorProto_TYPE_DOUBLE
	tFloat    = dpb.FieldDescriptorProto_TYPE_FLOAT
	tInt64    = dpb.FieldDescriptorProto_TYPE_INT64
	tUint64   = dpb.FieldDescriptorProto_TYPE_UINT64
	tInt32    = dpb.FieldDescriptorProto_TYPE_INT32
	tFixed64  = dpb.FieldDescriptorProto_TYPE_FIXED64
	tFixed32  = dpb.FieldDescriptorProto_TYPE_FIXED32
	tBool     = dpb.FieldDescriptorProto_TYPE_BOOL
	tString   = dpb.FieldDescriptorProto_TYPE_STRING
	tGroup    = dpb.FieldDescriptorProto_TYPE_GROUP
	tMessage  = dpb.FieldDescriptorProto_TYPE_MESSAGE
	tBytes    = dpb.FieldDescriptorProto_TYPE_BYTES
	tUint32   = dpb.FieldDescriptorProto_TYPE_UINT32
	tEnum     = dpb.FieldDescriptorProto_TYPE_ENUM
	tSfixed32 = dpb.FieldDescriptorProto_TYPE_SFIXED32
	tSfixed64 = dpb.FieldDescriptorProto_TYPE_SFIXED64
	tSint32   = dpb.FieldDescriptorProto_TYPE_SINT32
	tSint64   = dpb.FieldDescriptorProto_TYPE_SINT64

	optional = dpb.FieldDescriptorProto_LABEL_OPTIONAL
	repeated = dpb.FieldDescriptorProto_LABEL_REPEATED
	required = dpb.FieldDescriptorProto_LABEL_REQUIRED
)

// fieldProto describes a field; typeName is relative to pkg when it has
// no leading dot.
func fieldProto(pkg, name string, num int32, typ dpb.FieldDescriptorProto_Type, label dpb.FieldDescriptorProto_Label, typeName string) *dpb.FieldDescriptorProto {
	f := &dpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(num), Type: typ.Enum(), Label: label.Enum()}
	if typeName != "" {
		if !strings.HasPrefix(typeName, ".") {
			typeName = "." + pkg + "." + typeName
		}
		f.TypeName = proto.String(typeName)
	}
	return f
}

func inOneof(f *dpb.FieldDescriptorProto, index int32) *dpb.FieldDescriptorProto {
	f.OneofIndex = proto.Int32(index)
	return f
}

// mapField describes map<key, value> name = num in message msg, adding
// its entry type to msg as protoc does.
func mapField(pkg string, msg *dpb.DescriptorProto, name string, num int32, key dpb.FieldDescriptorProto_Type, val dpb.FieldDescriptorProto_Type, valType string) {
	entryName := entryTypeName(name)
	entry := &dpb.DescriptorProto{
		Name: proto.String(entryName),
		Field: []*dpb.FieldDescriptorProto{
			fieldProto(pkg, "key", 1, key, optional, ""),
			fieldProto(pkg, "value", 2, val, optional, valType),
		},
		Options: &dpb.MessageOptions{MapEntry: proto.Bool(true)},
	}
	msg.NestedType = append(msg.NestedType, entry)
	msg.Field = append(msg.Field, fieldProto(pkg, name, num, tMessage, repeated, msg.GetName()+"."+entryName))
}

// entryTypeName is protoc's name of a map field's entry type.
func entryTypeName(field string) string {
	var b strings.Builder
	upper := true
	for _, c := range field {
		switch {
		case c == '_':
			upper = true
		case upper:
			b.WriteString(strings.ToUpper(string(c)))
			upper = false
		default:
			b.WriteRune(c)
		}
	}
	return b.String() + "Entry"
}

func kitchenFile() *dpb.FileDescriptorProto {
	p := testPkg
	f := func(name string, num int32, typ dpb.FieldDescriptorProto_Type, typeName string) *dpb.FieldDescriptorProto {
		return fieldProto(p, name, num, typ, optional, typeName)
	}
	r := func(name string, num int32, typ dpb.FieldDescriptorProto_Type, typeName string) *dpb.FieldDescriptorProto {
		return fieldProto(p, name, num, typ, repeated, typeName)
	}
	unpacked := r("r_u64_unpacked", 29, tUint64, "")
	unpacked.Options = &dpb.FieldOptions{Packed: proto.Bool(false)}
	custom := f("custom_json", 74, tInt32, "")
	custom.JsonName = proto.String("Custom \"Name\"")
	optI := inOneof(f("opt_i", 60, tInt32, ""), 1)
	optI.Proto3Optional = proto.Bool(true)
	optS := inOneof(f("opt_s", 61, tString, ""), 2)
	optS.Proto3Optional = proto.Bool(true)
	optE := inOneof(f("opt_e", 62, tEnum, "Color"), 3)
	optE.Proto3Optional = proto.Bool(true)
	optD := inOneof(f("opt_d", 63, tDouble, ""), 4)
	optD.Proto3Optional = proto.Bool(true)

	kitchen := &dpb.DescriptorProto{
		Name: proto.String("Kitchen"),
		Field: []*dpb.FieldDescriptorProto{
			f("s", 14, tString, ""),
			f("i32", 1, tInt32, ""),
			f("i64", 2, tInt64, ""),
			f("u32", 3, tUint32, ""),
			f("u64", 4, tUint64, ""),
			f("s32", 5, tSint32, ""),
			f("s64", 6, tSint64, ""),
			f("f32", 7, tFixed32, ""),
			f("f64", 8, tFixed64, ""),
			f("sf32", 9, tSfixed32, ""),
			f("sf64", 10, tSfixed64, ""),
			f("fl", 11, tFloat, ""),
			f("db", 12, tDouble, ""),
			f("b", 13, tBool, ""),
			f("by", 15, tBytes, ""),
			f("color", 16, tEnum, "Color"),
			f("inner", 17, tMessage, "Inner"),
			r("r_i32", 20, tInt32, ""),
			r("r_s64", 21, tSint64, ""),
			r("r_f32", 22, tFixed32, ""),
			r("r_db", 23, tDouble, ""),
			r("r_b", 24, tBool, ""),
			r("r_s", 25, tString, ""),
			r("r_by", 26, tBytes, ""),
			r("r_color", 27, tEnum, "Color"),
			r("r_inner", 28, tMessage, "Inner"),
			unpacked,
			r("r_fl", 19, tFloat, ""),
			r("r_sf64", 18, tSfixed64, ""),
			inOneof(f("o_i", 50, tInt32, ""), 0),
			inOneof(f("o_s", 51, tString, ""), 0),
			inOneof(f("o_m", 52, tMessage, "Inner"), 0),
			inOneof(f("o_e", 53, tEnum, "Color"), 0),
			inOneof(f("o_b", 54, tBytes, ""), 0),
			optI, optS, optE, optD,
			f("child", 70, tMessage, "Kitchen"),
			r("children", 71, tMessage, "Kitchen"),
			f("snake_case_name", 72, tString, ""),
			f("sparse", 73, tMessage, "Sparse"),
			custom,
		},
		OneofDecl: []*dpb.OneofDescriptorProto{
			{Name: proto.String("choice")},
			{Name: proto.String("_opt_i")},
			{Name: proto.String("_opt_s")},
			{Name: proto.String("_opt_e")},
			{Name: proto.String("_opt_d")},
		},
	}
	mapField(p, kitchen, "m_si", 30, tString, tInt32, "")
	mapField(p, kitchen, "m_is", 31, tInt32, tString, "")
	mapField(p, kitchen, "m_im", 32, tInt64, tMessage, "Inner")
	mapField(p, kitchen, "m_uc", 33, tUint32, tEnum, "Color")
	mapField(p, kitchen, "m_ub", 34, tUint64, tBytes, "")
	mapField(p, kitchen, "m_sd", 35, tSint32, tDouble, "")
	mapField(p, kitchen, "m_sf", 36, tSint64, tFloat, "")
	mapField(p, kitchen, "m_fb", 37, tFixed32, tBool, "")
	mapField(p, kitchen, "m_f64", 38, tFixed64, tInt64, "")
	mapField(p, kitchen, "m_sfx", 39, tSfixed32, tUint64, "")
	mapField(p, kitchen, "m_sfx64", 40, tSfixed64, tSint32, "")
	mapField(p, kitchen, "m_bs", 41, tBool, tString, "")
	mapField(p, kitchen, "m_sm", 42, tString, tMessage, "Kitchen")
	timed := &dpb.DescriptorProto{Name: proto.String("Timed"), Field: []*dpb.FieldDescriptorProto{
		f("at", 1, tMessage, ".google.protobuf.Timestamp"),
		f("inner", 2, tMessage, "Inner"),
	}}
	mapField(p, timed, "tags", 3, tString, tInt32, "")

	return &dpb.FileDescriptorProto{
		Name:       proto.String("podtap/transcode/v1/kitchen.proto"),
		Package:    proto.String(p),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/timestamp.proto", "google/protobuf/any.proto"},
		EnumType: []*dpb.EnumDescriptorProto{{
			Name: proto.String("Color"),
			Value: []*dpb.EnumValueDescriptorProto{
				{Name: proto.String("COLOR_UNSPECIFIED"), Number: proto.Int32(0)},
				{Name: proto.String("RED"), Number: proto.Int32(1)},
				{Name: proto.String("CRIMSON"), Number: proto.Int32(1)},
				{Name: proto.String("GREEN"), Number: proto.Int32(2)},
				{Name: proto.String("BLUE"), Number: proto.Int32(-3)},
				{Name: proto.String("FAR"), Number: proto.Int32(100000)},
			},
			Options: &dpb.EnumOptions{AllowAlias: proto.Bool(true)},
		}},
		MessageType: []*dpb.DescriptorProto{
			{Name: proto.String("Inner"), Field: []*dpb.FieldDescriptorProto{
				f("a", 1, tInt32, ""),
				f("b", 2, tString, ""),
				r("deep", 3, tMessage, "Inner"),
				f("c", 4, tEnum, "Color"),
			}},
			{Name: proto.String("Sparse"), Field: []*dpb.FieldDescriptorProto{
				f("low", 1, tInt32, ""),
				f("high", 536870911, tString, ""),
			}},
			kitchen,
			timed,
			{Name: proto.String("Outer"), Field: []*dpb.FieldDescriptorProto{
				r("timed", 1, tMessage, "Timed"),
			}},
			{Name: proto.String("Packed"), Field: []*dpb.FieldDescriptorProto{
				f("any", 1, tMessage, ".google.protobuf.Any"),
				f("timed", 2, tMessage, "Timed"),
			}},
		},
	}
}

// syntax = "proto3";
// message Known {
//
//	google.protobuf.Timestamp ts = 1; Duration dur = 2; Empty empty = 3;
//	DoubleValue dbl = 4; FloatValue flt = 5; Int64Value i64 = 6; UInt64Value u64 = 7;
//	Int32Value i32 = 8; UInt32Value u32 = 9; BoolValue flag = 10; StringValue str = 11;
//	BytesValue raw = 12; FieldMask mask = 13; Struct obj = 14; Value val = 15;
//	ListValue list = 16; NullValue null = 17;
//	repeated Timestamp r_ts = 20; ... (Duration, Value, NullValue, Int64Value,
//	StringValue, FieldMask, Empty)
//	map<string, Timestamp> m_ts = 30; map<int32, Duration> m_dur = 31; ... (a map of each)
//	oneof pick { Timestamp o_ts = 40; Duration o_dur = 41; Value o_val = 42;
//	  Int32Value o_i32 = 43; NullValue o_null = 44; Empty o_empty = 45; StringValue o_str = 46; }
//	optional NullValue opt_null = 47; Known child = 50;
//
// }
func knownFile() *dpb.FileDescriptorProto {
	p := testPkg
	f := func(name string, num int32, typ dpb.FieldDescriptorProto_Type, wkt string) *dpb.FieldDescriptorProto {
		return fieldProto(p, name, num, typ, optional, ".google.protobuf."+wkt)
	}
	r := func(name string, num int32, typ dpb.FieldDescriptorProto_Type, wkt string) *dpb.FieldDescriptorProto {
		return fieldProto(p, name, num, typ, repeated, ".google.protobuf."+wkt)
	}
	optNull := inOneof(f("opt_null", 47, tEnum, "NullValue"), 1)
	optNull.Proto3Optional = proto.Bool(true)
	known := &dpb.DescriptorProto{
		Name: proto.String("Known"),
		Field: []*dpb.FieldDescriptorProto{
			f("ts", 1, tMessage, "Timestamp"),
			f("dur", 2, tMessage, "Duration"),
			f("empty", 3, tMessage, "Empty"),
			f("dbl", 4, tMessage, "DoubleValue"),
			f("flt", 5, tMessage, "FloatValue"),
			f("i64", 6, tMessage, "Int64Value"),
			f("u64", 7, tMessage, "UInt64Value"),
			f("i32", 8, tMessage, "Int32Value"),
			f("u32", 9, tMessage, "UInt32Value"),
			f("flag", 10, tMessage, "BoolValue"),
			f("str", 11, tMessage, "StringValue"),
			f("raw", 12, tMessage, "BytesValue"),
			f("mask", 13, tMessage, "FieldMask"),
			f("obj", 14, tMessage, "Struct"),
			f("val", 15, tMessage, "Value"),
			f("list", 16, tMessage, "ListValue"),
			f("null", 17, tEnum, "NullValue"),
			r("r_ts", 20, tMessage, "Timestamp"),
			r("r_dur", 21, tMessage, "Duration"),
			r("r_val", 22, tMessage, "Value"),
			r("r_null", 23, tEnum, "NullValue"),
			r("r_i64", 24, tMessage, "Int64Value"),
			r("r_str", 25, tMessage, "StringValue"),
			r("r_mask", 26, tMessage, "FieldMask"),
			r("r_empty", 27, tMessage, "Empty"),
			inOneof(f("o_ts", 40, tMessage, "Timestamp"), 0),
			inOneof(f("o_dur", 41, tMessage, "Duration"), 0),
			inOneof(f("o_val", 42, tMessage, "Value"), 0),
			inOneof(f("o_i32", 43, tMessage, "Int32Value"), 0),
			inOneof(f("o_null", 44, tEnum, "NullValue"), 0),
			inOneof(f("o_empty", 45, tMessage, "Empty"), 0),
			inOneof(f("o_str", 46, tMessage, "StringValue"), 0),
			optNull,
			fieldProto(p, "child", 50, tMessage, optional, "Known"),
		},
		OneofDecl: []*dpb.OneofDescriptorProto{{Name: proto.String("pick")}, {Name: proto.String("_opt_null")}},
	}
	wkt := func(name string) string { return ".google.protobuf." + name }
	mapField(p, known, "m_ts", 30, tString, tMessage, wkt("Timestamp"))
	mapField(p, known, "m_dur", 31, tInt32, tMessage, wkt("Duration"))
	mapField(p, known, "m_val", 32, tString, tMessage, wkt("Value"))
	mapField(p, known, "m_str", 33, tString, tMessage, wkt("StringValue"))
	mapField(p, known, "m_null", 34, tString, tEnum, wkt("NullValue"))
	mapField(p, known, "m_empty", 35, tString, tMessage, wkt("Empty"))
	mapField(p, known, "m_dbl", 36, tBool, tMessage, wkt("DoubleValue"))
	mapField(p, known, "m_obj", 37, tString, tMessage, wkt("Struct"))
	mapField(p, known, "m_list", 38, tString, tMessage, wkt("ListValue"))
	mapField(p, known, "m_mask", 39, tString, tMessage, wkt("FieldMask"))
	return &dpb.FileDescriptorProto{
		Name:    proto.String("podtap/transcode/v1/known.proto"),
		Package: proto.String(p),
		Syntax:  proto.String("proto3"),
		Dependency: []string{
			"google/protobuf/timestamp.proto", "google/protobuf/duration.proto", "google/protobuf/empty.proto",
			"google/protobuf/wrappers.proto", "google/protobuf/field_mask.proto", "google/protobuf/struct.proto",
		},
		MessageType: []*dpb.DescriptorProto{known},
	}
}

// syntax = "proto2";
// enum Shade { LIGHT = 1; DARK = 2; }
// enum Tone { TONE_NONE = 0; LOUD = 1; }
// message Legacy { optional int32 a = 1; optional string s = 2; optional Shade e = 3;
//
//	map<string, Tone> ms = 4; repeated int32 r = 5; optional Legacy next = 6;
//	repeated int32 rp = 7 [packed = true]; optional bytes by = 8; optional double d = 9;
//	map<int32, string> mis = 10; oneof pick { Legacy o_next = 11; int32 o_i = 12; }
//	map<int32, Legacy> mil = 13; }
//
// message WithGroup { optional group G = 1 { optional int32 x = 2; } }
// message WithRequired { required int32 x = 1; }
// message Extendable { optional int32 x = 1; extensions 100 to 200; }
func legacyFile() *dpb.FileDescriptorProto {
	p := legacyPkg
	f := func(name string, num int32, typ dpb.FieldDescriptorProto_Type, typeName string) *dpb.FieldDescriptorProto {
		return fieldProto(p, name, num, typ, optional, typeName)
	}
	packed := fieldProto(p, "rp", 7, tInt32, repeated, "")
	packed.Options = &dpb.FieldOptions{Packed: proto.Bool(true)}
	legacy := &dpb.DescriptorProto{
		Name: proto.String("Legacy"),
		Field: []*dpb.FieldDescriptorProto{
			f("a", 1, tInt32, ""),
			f("s", 2, tString, ""),
			f("e", 3, tEnum, "Shade"),
			fieldProto(p, "r", 5, tInt32, repeated, ""),
			f("next", 6, tMessage, "Legacy"),
			packed,
			f("by", 8, tBytes, ""),
			f("d", 9, tDouble, ""),
			inOneof(f("o_next", 11, tMessage, "Legacy"), 0),
			inOneof(f("o_i", 12, tInt32, ""), 0),
		},
		OneofDecl: []*dpb.OneofDescriptorProto{{Name: proto.String("pick")}},
	}
	mapField(p, legacy, "ms", 4, tString, tEnum, "Tone")
	mapField(p, legacy, "mis", 10, tInt32, tString, "")
	mapField(p, legacy, "mil", 13, tInt32, tMessage, "Legacy")
	return &dpb.FileDescriptorProto{
		Name:    proto.String("podtap/transcode/legacy.proto"),
		Package: proto.String(p),
		Syntax:  proto.String("proto2"),
		EnumType: []*dpb.EnumDescriptorProto{{
			Name: proto.String("Shade"),
			Value: []*dpb.EnumValueDescriptorProto{
				{Name: proto.String("LIGHT"), Number: proto.Int32(1)},
				{Name: proto.String("DARK"), Number: proto.Int32(2)},
			},
		}, {
			Name: proto.String("Tone"),
			Value: []*dpb.EnumValueDescriptorProto{
				{Name: proto.String("TONE_NONE"), Number: proto.Int32(0)},
				{Name: proto.String("LOUD"), Number: proto.Int32(1)},
			},
		}},
		MessageType: []*dpb.DescriptorProto{
			legacy,
			{
				Name:       proto.String("WithGroup"),
				Field:      []*dpb.FieldDescriptorProto{fieldProto(p, "g", 1, tGroup, optional, "WithGroup.G")},
				NestedType: []*dpb.DescriptorProto{{Name: proto.String("G"), Field: []*dpb.FieldDescriptorProto{f("x", 2, tInt32, "")}}},
			},
			{Name: proto.String("WithRequired"), Field: []*dpb.FieldDescriptorProto{fieldProto(p, "x", 1, tInt32, required, "")}},
			{
				Name:           proto.String("Extendable"),
				Field:          []*dpb.FieldDescriptorProto{f("x", 1, tInt32, "")},
				ExtensionRange: []*dpb.DescriptorProto_ExtensionRange{{Start: proto.Int32(100), End: proto.Int32(201)}},
			},
		},
	}
}

// edition = "2023";
// option features.utf8_validation = NONE;
// enum Closed { option features.enum_type = CLOSED; C_ONE = 1; C_TWO = 2; }
// message Ed { string loose = 1; string strict = 2 [features.utf8_validation = VERIFY];
//
//	int32 implicit = 3 [features.field_presence = IMPLICIT]; int32 explicit = 4;
//	Closed closed = 5; repeated int32 expanded = 6 [features.repeated_field_encoding = EXPANDED];
//	Ed child = 7; }
func editionFile() *dpb.FileDescriptorProto {
	p := editionPkg
	f := func(name string, num int32, typ dpb.FieldDescriptorProto_Type, typeName string) *dpb.FieldDescriptorProto {
		return fieldProto(p, name, num, typ, optional, typeName)
	}
	strict := f("strict", 2, tString, "")
	strict.Options = &dpb.FieldOptions{Features: &dpb.FeatureSet{Utf8Validation: dpb.FeatureSet_VERIFY.Enum()}}
	implicit := f("implicit", 3, tInt32, "")
	implicit.Options = &dpb.FieldOptions{Features: &dpb.FeatureSet{FieldPresence: dpb.FeatureSet_IMPLICIT.Enum()}}
	expanded := fieldProto(p, "expanded", 6, tInt32, repeated, "")
	expanded.Options = &dpb.FieldOptions{Features: &dpb.FeatureSet{RepeatedFieldEncoding: dpb.FeatureSet_EXPANDED.Enum()}}
	return &dpb.FileDescriptorProto{
		Name:    proto.String("podtap/transcode/ed.proto"),
		Package: proto.String(p),
		Syntax:  proto.String("editions"),
		Edition: dpb.Edition_EDITION_2023.Enum(),
		Options: &dpb.FileOptions{Features: &dpb.FeatureSet{Utf8Validation: dpb.FeatureSet_NONE.Enum()}},
		EnumType: []*dpb.EnumDescriptorProto{{
			Name:    proto.String("Closed"),
			Options: &dpb.EnumOptions{Features: &dpb.FeatureSet{EnumType: dpb.FeatureSet_CLOSED.Enum()}},
			Value: []*dpb.EnumValueDescriptorProto{
				{Name: proto.String("C_ONE"), Number: proto.Int32(1)},
				{Name: proto.String("C_TWO"), Number: proto.Int32(2)},
			},
		}},
		MessageType: []*dpb.DescriptorProto{{
			Name: proto.String("Ed"),
			Field: []*dpb.FieldDescriptorProto{
				f("loose", 1, tString, ""),
				strict,
				implicit,
				f("explicit", 4, tInt32, ""),
				f("closed", 5, tEnum, "Closed"),
				expanded,
				f("child", 7, tMessage, "Ed"),
			},
		}},
	}
}

// wellKnownFiles are the files of the well-known types, as descriptor
// protos: server reflection sends them so, and the schema builds its own
// descriptors of them rather than using those compiled into podtap.
func wellKnownFiles() []*dpb.FileDescriptorProto {
	var fdps []*dpb.FileDescriptorProto
	for _, fd := range []protoreflect.FileDescriptor{
		timestamppb.File_google_protobuf_timestamp_proto, durationpb.File_google_protobuf_duration_proto,
		emptypb.File_google_protobuf_empty_proto, wrapperspb.File_google_protobuf_wrappers_proto,
		fieldmaskpb.File_google_protobuf_field_mask_proto, structpb.File_google_protobuf_struct_proto,
		anypb.File_google_protobuf_any_proto,
	} {
		fdps = append(fdps, protodesc.ToFileDescriptorProto(fd))
	}
	return fdps
}

func newTestSchema(tb testing.TB) *testSchema {
	tb.Helper()
	files := new(protoregistry.Files)
	fdps := append(wellKnownFiles(), kitchenFile(), knownFile(), legacyFile(), editionFile())
	for _, fdp := range fdps {
		fd, err := protodesc.NewFile(fdp, files)
		if err != nil {
			tb.Fatalf("%s: %v", fdp.GetName(), err)
		}
		if err := files.RegisterFile(fd); err != nil {
			tb.Fatal(err)
		}
	}
	msg := func(name string) protoreflect.MessageDescriptor {
		d, err := files.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			tb.Fatal(err)
		}
		return d.(protoreflect.MessageDescriptor)
	}
	wkts := map[protoreflect.Name]protoreflect.MessageDescriptor{}
	files.RangeFilesByPackage(wellKnownPackage, func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Messages().Len() {
			wkts[fd.Messages().Get(i).Name()] = fd.Messages().Get(i)
		}
		return true
	})
	return &testSchema{
		wkts:         wkts,
		kitchen:      msg(testPkg + ".Kitchen"),
		inner:        msg(testPkg + ".Inner"),
		sparse:       msg(testPkg + ".Sparse"),
		timed:        msg(testPkg + ".Timed"),
		outer:        msg(testPkg + ".Outer"),
		packed:       msg(testPkg + ".Packed"),
		known:        msg(testPkg + ".Known"),
		legacy:       msg(legacyPkg + ".Legacy"),
		withGroup:    msg(legacyPkg + ".WithGroup"),
		withRequired: msg(legacyPkg + ".WithRequired"),
		extendable:   msg(legacyPkg + ".Extendable"),
		edition:      msg(editionPkg + ".Ed"),
		files:        files,
	}
}
