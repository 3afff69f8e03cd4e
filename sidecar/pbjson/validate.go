package pbjson

import (
	"google.golang.org/protobuf/reflect/protoreflect"
)

// validate checks message b, which is read but not written, as
// proto.Unmarshal does: its wire format, its strings' UTF-8 where
// enforced, and the same of every message in it. What only writing
// refuses (a Timestamp out of range, a proto2 string not UTF-8) is no
// error here, as protojson never sees it.
func (t *transcoder) validate(p *plan, b []byte, depth int) error {
	if depth > maxDepth {
		return errFallback
	}
	base := len(t.occs)
	if err := t.read(p, b); err != nil {
		return err
	}
	// Messages inside push their occurrences past end, and pop them.
	end := len(t.occs)
	for i := base; i < end; i++ {
		r := t.occs[i]
		f := &p.fields[r.field]
		var err error
		switch {
		case f.shape == mapped:
			err = t.validateEntry(f, b, int(r.start), int(r.end), depth)
		case f.kind == protoreflect.MessageKind:
			err = t.validate(f.msg, b[r.start:r.end], depth+1)
		}
		if err != nil {
			return err
		}
	}
	t.occs = t.occs[:base]
	return nil
}

// validateEntry checks the map entry b[start:end] and its message value.
func (t *transcoder) validateEntry(f *fieldPlan, b []byte, start, end, depth int) error {
	e, err := readEntry(f, b, start, end)
	if err != nil || !e.hasVal || f.val.kind != protoreflect.MessageKind {
		return err
	}
	return t.validate(f.val.msg, b[e.vstart:e.vend], depth+1)
}
