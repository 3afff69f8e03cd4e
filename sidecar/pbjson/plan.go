package pbjson

import (
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// plan is how the transcoder reads and writes one message type, compiled
// once from its descriptor so that the hot path makes no interface calls
// and no lookups by name.
type plan struct {
	// fields are in declaration order, the order protojson writes them in.
	fields []fieldPlan
	// byNum maps a field number below len(byNum) to its index + 1 (0: no
	// such field); sparse holds the rest, for messages with large numbers.
	byNum  []int32
	sparse map[protowire.Number]int32
	// oneofs counts the message's oneofs, synthetic ones included.
	oneofs int
	// special is the JSON form of its own protojson gives a well-known
	// type; plain for the others.
	special special
	// fallback: this type, or one it reaches, needs what only the
	// reflective decoder does exactly.
	fallback bool
}

// shape is how a field holds its values.
type shape uint8

const (
	singular shape = iota
	list
	mapped
)

// fieldPlan is one field of a plan, or the key or value of a map entry.
type fieldPlan struct {
	// name is the JSON member name, quoted and followed by a colon.
	name     []byte
	fullName protoreflect.FullName
	kind     protoreflect.Kind
	// wire is the wire type of one value; a list of a varint or fixed
	// kind also accepts packed values (BytesType).
	wire  protowire.Type
	shape shape
	// presence: the field is written even when it holds its zero value.
	presence bool
	// oneof is the index of the field's oneof, -1 when it has none.
	oneof int
	// utf8: a string that is not valid UTF-8 fails decoding, as
	// proto.Unmarshal enforces it for this field.
	utf8 bool
	enum *enumPlan
	msg  *plan
	// key and val are a map's entry fields.
	key, val *fieldPlan
}

// enumPlan names an enum's values as JSON strings.
type enumPlan struct {
	// dense holds the quoted names of numbers 0 to len(dense)-1, nil for
	// a number without a value; sparse holds the others.
	dense  [][]byte
	sparse map[int32][]byte
	// null: the enum is google.protobuf.NullValue, whose every value
	// protojson writes as null.
	null bool
}

// maxDense bounds the lookup slices of field and enum numbers: past it,
// numbers go to a map rather than a mostly empty slice.
const maxDense = 1024

// compile builds the plan of md and of every type it reaches.
func compile(md protoreflect.MessageDescriptor) *plan {
	c := compiler{plans: map[protoreflect.MessageDescriptor]*plan{}, enums: map[protoreflect.EnumDescriptor]*enumPlan{}}
	root := c.message(md)
	c.spreadFallback()
	return root
}

type compiler struct {
	plans map[protoreflect.MessageDescriptor]*plan
	enums map[protoreflect.EnumDescriptor]*enumPlan
	// all lists the plans in the order compiled, for spreadFallback.
	all []*plan
}

func (c *compiler) message(md protoreflect.MessageDescriptor) *plan {
	if p, ok := c.plans[md]; ok {
		return p
	}
	p := &plan{oneofs: md.Oneofs().Len()}
	// Registered before its fields: a type may reach itself.
	c.plans[md] = p
	c.all = append(c.all, p)
	// A placeholder stands for a type missing from the schema; the
	// reflective decoder decides what its fields become.
	if md.IsPlaceholder() || md.ExtensionRanges().Len() > 0 {
		p.fallback = true
		return p
	}
	sp, ok := specialOf(md)
	if !ok {
		p.fallback = true
		return p
	}
	p.special = sp
	fields := md.Fields()
	p.fields = make([]fieldPlan, fields.Len())
	maxNum := protowire.Number(0)
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !c.supported(fd) {
			p.fallback = true
			return p
		}
		f := &p.fields[i]
		c.field(f, fd)
		f.name = appendName(nil, fd.JSONName())
		switch {
		case fd.IsMap():
			f.shape = mapped
			f.wire = protowire.BytesType
			f.key, f.val = new(fieldPlan), new(fieldPlan)
			c.field(f.key, fd.MapKey())
			c.field(f.val, fd.MapValue())
		case fd.IsList():
			f.shape = list
		}
		f.oneof = -1
		if od := fd.ContainingOneof(); od != nil {
			f.oneof = od.Index()
		}
		maxNum = max(maxNum, fd.Number())
	}
	if maxNum < maxDense {
		p.byNum = make([]int32, maxNum+1)
	} else {
		p.sparse = make(map[protowire.Number]int32, fields.Len())
	}
	for i := range fields.Len() {
		num := fields.Get(i).Number()
		if p.byNum != nil {
			p.byNum[num] = int32(i + 1)
		} else {
			p.sparse[num] = int32(i + 1)
		}
	}
	return p
}

// supported says whether the transcoder reproduces protojson for fd.
// Groups and required fields bring semantics (delimited encoding, the
// initialization check) it does not implement; a JSON name that is not
// UTF-8 makes protojson fail.
func (c *compiler) supported(fd protoreflect.FieldDescriptor) bool {
	if fd.Kind() == protoreflect.GroupKind || fd.Cardinality() == protoreflect.Required {
		return false
	}
	if !utf8.ValidString(fd.JSONName()) {
		return false
	}
	if fd.IsMap() {
		return c.supported(fd.MapValue())
	}
	if ed := fd.Enum(); ed != nil && ed.IsPlaceholder() {
		return false
	}
	return true
}

// field fills in what a field, a map key or a map value share.
func (c *compiler) field(f *fieldPlan, fd protoreflect.FieldDescriptor) {
	f.fullName = fd.FullName()
	f.kind = fd.Kind()
	f.wire = wireType(fd.Kind())
	f.presence = fd.HasPresence()
	f.utf8 = enforceUTF8(fd)
	switch fd.Kind() {
	case protoreflect.EnumKind:
		f.enum = c.enum(fd.Enum())
	case protoreflect.MessageKind:
		if !fd.IsMap() {
			f.msg = c.message(fd.Message())
		}
	}
}

func (c *compiler) enum(ed protoreflect.EnumDescriptor) *enumPlan {
	if e, ok := c.enums[ed]; ok {
		return e
	}
	e := &enumPlan{null: ed.FullName() == nullValueName}
	c.enums[ed] = e
	values := ed.Values()
	for i := range values.Len() {
		num := values.Get(i).Number()
		if e.name(num) != nil {
			continue
		}
		// With aliases, protojson names a number by its first value, which
		// ByNumber returns.
		name := appendQuoted(nil, string(values.ByNumber(num).Name()))
		if num >= 0 && num < maxDense {
			for int(num) >= len(e.dense) {
				e.dense = append(e.dense, nil)
			}
			e.dense[num] = name
			continue
		}
		if e.sparse == nil {
			e.sparse = map[int32][]byte{}
		}
		e.sparse[int32(num)] = name
	}
	return e
}

// name is the quoted name of num, nil when the enum has no such value.
func (e *enumPlan) name(num protoreflect.EnumNumber) []byte {
	if num >= 0 && int(num) < len(e.dense) {
		return e.dense[num]
	}
	return e.sparse[int32(num)]
}

// spreadFallback marks every plan that reaches a fallback one, repeating
// until nothing changes since types may reach each other in cycles.
func (c *compiler) spreadFallback() {
	for changed := true; changed; {
		changed = false
		for _, p := range c.all {
			if p.fallback {
				continue
			}
			for i := range p.fields {
				f := &p.fields[i]
				if (f.msg != nil && f.msg.fallback) || (f.val != nil && f.val.msg != nil && f.val.msg.fallback) {
					p.fallback = true
					changed = true
					break
				}
			}
		}
	}
}

// field finds the index of field num in p, -1 when p has none.
func (p *plan) field(num protowire.Number) int {
	if p.byNum != nil {
		if num < protowire.Number(len(p.byNum)) {
			return int(p.byNum[num]) - 1
		}
		return -1
	}
	return int(p.sparse[num]) - 1
}

// wireType is the wire type one value of kind k is encoded with.
func wireType(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.BoolKind, protoreflect.EnumKind,
		protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Uint32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		return protowire.VarintType
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.GroupKind:
		return protowire.StartGroupType
	}
	return protowire.BytesType
}

// enforceUTF8 is the rule proto.Unmarshal applies to string fields:
// proto3 validates UTF-8, proto2 does not, and editions say per field
// (utf8_validation), which their descriptors report.
func enforceUTF8(fd protoreflect.FieldDescriptor) bool {
	if fd.Syntax() == protoreflect.Editions {
		if v, ok := fd.(interface{ EnforceUTF8() bool }); ok {
			return v.EnforceUTF8()
		}
	}
	return fd.Syntax() == protoreflect.Proto3
}

// appendName appends a JSON object member name and its colon.
func appendName(dst []byte, name string) []byte {
	return append(appendQuoted(dst, name), ':')
}

// appendQuoted appends s as a JSON string; s is valid UTF-8.
func appendQuoted(dst []byte, s string) []byte {
	dst, _ = appendString(dst, []byte(s))
	return dst
}
