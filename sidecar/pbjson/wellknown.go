package pbjson

import "google.golang.org/protobuf/reflect/protoreflect"

// special is a JSON form of its own that protojson gives a well-known
// type in place of an object of its fields.
type special uint8

const (
	plain special = iota
	// asTimestamp: an RFC 3339 string in UTC.
	asTimestamp
	// asDuration: seconds as a decimal string ending in "s".
	asDuration
	// asWrapper: the JSON of the wrapped value.
	asWrapper
	// asFieldMask: the paths in lowerCamelCase, joined by commas.
	asFieldMask
	// asStruct: the fields map as a JSON object.
	asStruct
	// asList: the values as a JSON array.
	asList
	// asValue: the JSON value of the one field set (null for null_value).
	asValue
)

const (
	wellKnownPackage protoreflect.FullName = "google.protobuf"
	nullValueName    protoreflect.FullName = "google.protobuf.NullValue"
	structName       protoreflect.FullName = "google.protobuf.Struct"
	listValueName    protoreflect.FullName = "google.protobuf.ListValue"
	valueName        protoreflect.FullName = "google.protobuf.Value"
)

// wrapperKinds are the wrapper types, by the kind of their one field.
var wrapperKinds = map[protoreflect.Name]protoreflect.Kind{
	"DoubleValue": protoreflect.DoubleKind,
	"FloatValue":  protoreflect.FloatKind,
	"Int64Value":  protoreflect.Int64Kind,
	"UInt64Value": protoreflect.Uint64Kind,
	"Int32Value":  protoreflect.Int32Kind,
	"UInt32Value": protoreflect.Uint32Kind,
	"BoolValue":   protoreflect.BoolKind,
	"StringValue": protoreflect.StringKind,
	"BytesValue":  protoreflect.BytesKind,
}

// specialOf says how protojson writes messages of type md, and whether
// the transcoder can write them the same. protojson picks a well-known
// type's form by its name alone, and reads its fields by number: a
// schema's own copy of a well-known type (server reflection sends the
// server's) is taken only when its fields are the ones protojson expects.
// Any needs its packed type resolved, which is left to protojson. Other
// types of the package, Empty among them, are plain messages to protojson.
func specialOf(md protoreflect.MessageDescriptor) (special, bool) {
	if md.FullName().Parent() != wellKnownPackage {
		return plain, true
	}
	if kind, ok := wrapperKinds[md.Name()]; ok {
		return asWrapper, hasShape(md, shapeField{num: 1, kind: kind})
	}
	switch md.Name() {
	case "Any":
		return plain, false
	case "Timestamp":
		return asTimestamp, hasShape(md, shapeField{num: 1, kind: protoreflect.Int64Kind}, shapeField{num: 2, kind: protoreflect.Int32Kind})
	case "Duration":
		return asDuration, hasShape(md, shapeField{num: 1, kind: protoreflect.Int64Kind}, shapeField{num: 2, kind: protoreflect.Int32Kind})
	case "FieldMask":
		return asFieldMask, hasShape(md, shapeField{num: 1, kind: protoreflect.StringKind, list: true})
	case "Struct":
		return asStruct, isStruct(md)
	case "ListValue":
		return asList, hasShape(md, shapeField{num: 1, kind: protoreflect.MessageKind, list: true, typ: valueName})
	case "Value":
		return asValue, isValue(md)
	}
	return plain, true
}

// shapeField is a field a well-known type must have.
type shapeField struct {
	num  protoreflect.FieldNumber
	kind protoreflect.Kind
	list bool
	// typ is the full name of a message or enum field's type.
	typ protoreflect.FullName
	// inOneof: the field is in the message's one oneof, else in none.
	inOneof bool
}

// hasShape says whether md has exactly the fields want.
func hasShape(md protoreflect.MessageDescriptor, want ...shapeField) bool {
	fields := md.Fields()
	if fields.Len() != len(want) {
		return false
	}
	for _, w := range want {
		fd := fields.ByNumber(w.num)
		if fd == nil || fd.Kind() != w.kind || fd.IsList() != w.list || fd.IsMap() {
			return false
		}
		if od := fd.ContainingOneof(); (od != nil) != w.inOneof || (od != nil && od.IsSynthetic()) {
			return false
		}
		switch {
		case fd.Message() != nil && fd.Message().FullName() != w.typ,
			fd.Enum() != nil && fd.Enum().FullName() != w.typ:
			return false
		}
	}
	return true
}

// isStruct says whether md is map<string, Value> fields = 1.
func isStruct(md protoreflect.MessageDescriptor) bool {
	fields := md.Fields()
	if fields.Len() != 1 {
		return false
	}
	fd := fields.ByNumber(1)
	return fd != nil && fd.IsMap() && fd.MapKey().Kind() == protoreflect.StringKind &&
		fd.MapValue().Message() != nil && fd.MapValue().Message().FullName() == valueName
}

// isValue says whether md is Value: one field of each JSON kind, all in
// the oneof kind, which protojson finds by name.
func isValue(md protoreflect.MessageDescriptor) bool {
	oneofs := md.Oneofs()
	if oneofs.Len() != 1 || oneofs.Get(0).Name() != "kind" {
		return false
	}
	return hasShape(md,
		shapeField{num: 1, kind: protoreflect.EnumKind, typ: nullValueName, inOneof: true},
		shapeField{num: 2, kind: protoreflect.DoubleKind, inOneof: true},
		shapeField{num: 3, kind: protoreflect.StringKind, inOneof: true},
		shapeField{num: 4, kind: protoreflect.BoolKind, inOneof: true},
		shapeField{num: 5, kind: protoreflect.MessageKind, typ: structName, inOneof: true},
		shapeField{num: 6, kind: protoreflect.MessageKind, typ: listValueName, inOneof: true},
	)
}
