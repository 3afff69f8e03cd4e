package grpc

import (
	"fmt"
	"strings"
	"unicode"

	"google.golang.org/protobuf/types/descriptorpb"
)

// Descriptors built by other stacks than protoc differ from protoc's in
// ways protodesc rejects, though they describe valid schemas: protobufjs
// (behind Node's @grpc/reflection) names a map's entry type after its
// field ("Stock", not "StockEntry"), writes type names relative to their
// scope ("Kind", "common.v1.Money"), and leaves out the imports of the
// files it merges per package. normalizer rewrites such files as protoc
// would have written them. It changes nothing else: a descriptor that is
// really broken (a map entry without key and value, a type name that
// names nothing) stays broken, for protodesc or normalize to reject.
type normalizer struct {
	// symbols is every message and enum of the files seen, by full name
	// without the leading dot: a later reflection response may refer to
	// types of files an earlier one sent.
	symbols map[string]symbol
}

// symbol is a type a name may resolve to.
type symbol struct {
	file string
	enum bool
}

func newNormalizer() *normalizer { return &normalizer{symbols: map[string]symbol{}} }

// normalize rewrites files in place. The files of one call are indexed
// together first, since they may refer to each other in any order.
func (n *normalizer) normalize(files []*descriptorpb.FileDescriptorProto) error {
	for _, fd := range files {
		n.index(fd)
	}
	for _, fd := range files {
		if err := n.resolveFile(fd); err != nil {
			return fmt.Errorf("grpc: descriptor %s: %w", fd.GetName(), err)
		}
	}
	for _, fd := range files {
		if err := n.renameMapEntries(fd); err != nil {
			return fmt.Errorf("grpc: descriptor %s: %w", fd.GetName(), err)
		}
	}
	return nil
}

func (n *normalizer) index(fd *descriptorpb.FileDescriptorProto) {
	for _, e := range fd.GetEnumType() {
		n.symbols[join(fd.GetPackage(), e.GetName())] = symbol{file: fd.GetName(), enum: true}
	}
	for _, m := range fd.GetMessageType() {
		n.indexMessage(fd.GetName(), join(fd.GetPackage(), m.GetName()), m)
	}
}

func (n *normalizer) indexMessage(file, name string, m *descriptorpb.DescriptorProto) {
	n.symbols[name] = symbol{file: file}
	for _, e := range m.GetEnumType() {
		n.symbols[join(name, e.GetName())] = symbol{file: file, enum: true}
	}
	for _, nested := range m.GetNestedType() {
		n.indexMessage(file, join(name, nested.GetName()), nested)
	}
}

// resolveFile makes every type name of fd fully qualified, sets the kind
// of fields that name a type without one, and declares the imports the
// names need.
func (n *normalizer) resolveFile(fd *descriptorpb.FileDescriptorProto) error {
	r := resolution{n: n, fd: fd, deps: map[string]bool{fd.GetName(): true}}
	for _, dep := range fd.GetDependency() {
		r.deps[dep] = true
	}
	pkg := fd.GetPackage()
	for _, m := range fd.GetMessageType() {
		if err := r.message(join(pkg, m.GetName()), m); err != nil {
			return err
		}
	}
	for _, x := range fd.GetExtension() {
		if err := r.field(pkg, x); err != nil {
			return err
		}
	}
	for _, s := range fd.GetService() {
		for _, m := range s.GetMethod() {
			where := join(join(pkg, s.GetName()), m.GetName())
			in, err := r.messageName(pkg, m.GetInputType(), where+" input")
			if err != nil {
				return err
			}
			out, err := r.messageName(pkg, m.GetOutputType(), where+" output")
			if err != nil {
				return err
			}
			m.InputType, m.OutputType = &in, &out
		}
	}
	return nil
}

// resolution is the resolving of one file's names.
type resolution struct {
	n  *normalizer
	fd *descriptorpb.FileDescriptorProto
	// deps is the files fd imports, and fd itself.
	deps map[string]bool
}

func (r *resolution) message(scope string, m *descriptorpb.DescriptorProto) error {
	for _, f := range m.GetField() {
		if err := r.field(scope, f); err != nil {
			return err
		}
	}
	for _, x := range m.GetExtension() {
		if err := r.field(scope, x); err != nil {
			return err
		}
	}
	for _, nested := range m.GetNestedType() {
		if err := r.message(join(scope, nested.GetName()), nested); err != nil {
			return err
		}
	}
	return nil
}

// field resolves the type and extendee names of field (or extension) f
// declared in scope.
func (r *resolution) field(scope string, f *descriptorpb.FieldDescriptorProto) error {
	where := join(scope, f.GetName())
	if f.Extendee != nil {
		name, err := r.messageName(scope, f.GetExtendee(), where+" extendee")
		if err != nil {
			return err
		}
		f.Extendee = &name
	}
	if f.TypeName == nil {
		return nil
	}
	name, sym, err := r.resolve(scope, f.GetTypeName(), where)
	if err != nil {
		return err
	}
	f.TypeName = &name
	if f.Type == nil {
		kind := descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
		if sym.enum {
			kind = descriptorpb.FieldDescriptorProto_TYPE_ENUM
		}
		f.Type = &kind
	}
	return nil
}

// messageName resolves a name that must be a message's.
func (r *resolution) messageName(scope, name, where string) (string, error) {
	full, sym, err := r.resolve(scope, name, where)
	if err == nil && sym.enum {
		err = fmt.Errorf("%s: %q is an enum, not a message", where, name)
	}
	return full, err
}

// resolve finds the type name refers to from scope, innermost scope first
// (as protobufjs, which wrote the name, looks it up), and returns its
// fully qualified name.
func (r *resolution) resolve(scope, name, where string) (string, symbol, error) {
	if name == "" {
		return "", symbol{}, fmt.Errorf("%s: empty type name", where)
	}
	var full string
	var sym symbol
	var ok bool
	if abs, isAbs := strings.CutPrefix(name, "."); isAbs {
		full = abs
		sym, ok = r.n.symbols[full]
	} else {
		for s := scope; ; s = parent(s) {
			full = join(s, name)
			if sym, ok = r.n.symbols[full]; ok || s == "" {
				break
			}
		}
	}
	if !ok {
		return "", symbol{}, fmt.Errorf("%s: type %q names no message or enum of the files served", where, name)
	}
	if !r.deps[sym.file] {
		r.deps[sym.file] = true
		r.fd.Dependency = append(r.fd.Dependency, sym.file)
	}
	return "." + full, sym, nil
}

// renameMapEntries gives each map entry type of fd the name protoc derives
// from its field, and points the field at it.
func (n *normalizer) renameMapEntries(fd *descriptorpb.FileDescriptorProto) error {
	for _, m := range fd.GetMessageType() {
		if err := n.renameIn(join(fd.GetPackage(), m.GetName()), m); err != nil {
			return err
		}
	}
	return nil
}

func (n *normalizer) renameIn(scope string, m *descriptorpb.DescriptorProto) error {
	for _, f := range m.GetField() {
		entry := nestedEntry(scope, m, f)
		if entry == nil {
			continue
		}
		want := mapEntryName(f.GetName())
		if entry.GetName() == want {
			continue
		}
		if taken(m, want) {
			return fmt.Errorf("map field %s: its entry type %s cannot be renamed %s, which %s already declares",
				join(scope, f.GetName()), entry.GetName(), want, scope)
		}
		old, renamed := join(scope, entry.GetName()), join(scope, want)
		n.symbols[renamed] = n.symbols[old]
		delete(n.symbols, old)
		entry.Name = &want
		typeName := "." + renamed
		f.TypeName = &typeName
	}
	for _, nested := range m.GetNestedType() {
		if err := n.renameIn(join(scope, nested.GetName()), nested); err != nil {
			return err
		}
	}
	return nil
}

// nestedEntry is the map entry type field f of message m (named scope)
// refers to, when it is one of m's own nested types, or nil.
func nestedEntry(scope string, m *descriptorpb.DescriptorProto, f *descriptorpb.FieldDescriptorProto) *descriptorpb.DescriptorProto {
	if f.GetLabel() != descriptorpb.FieldDescriptorProto_LABEL_REPEATED {
		return nil
	}
	for _, nested := range m.GetNestedType() {
		if nested.GetOptions().GetMapEntry() && f.GetTypeName() == "."+join(scope, nested.GetName()) {
			return nested
		}
	}
	return nil
}

// taken reports whether message m declares something named name.
func taken(m *descriptorpb.DescriptorProto, name string) bool {
	for _, nested := range m.GetNestedType() {
		if nested.GetName() == name {
			return true
		}
	}
	for _, e := range m.GetEnumType() {
		if e.GetName() == name {
			return true
		}
	}
	for _, f := range m.GetField() {
		if f.GetName() == name {
			return true
		}
	}
	return false
}

// mapEntryName is protoc's name of the entry type of map field field:
// the field's name in camel case with a capital first letter, and Entry.
func mapEntryName(field string) string {
	var b strings.Builder
	upper := true
	for _, c := range field {
		switch {
		case c == '_':
			upper = true
		case upper:
			b.WriteRune(unicode.ToUpper(c))
			upper = false
		default:
			b.WriteRune(c)
		}
	}
	b.WriteString("Entry")
	return b.String()
}

func join(scope, name string) string {
	if scope == "" {
		return name
	}
	return scope + "." + name
}

func parent(scope string) string {
	if i := strings.LastIndexByte(scope, '.'); i >= 0 {
		return scope[:i]
	}
	return ""
}
