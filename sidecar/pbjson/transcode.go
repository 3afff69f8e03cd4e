package pbjson

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// errFallback: the message needs what only the reflective decoder
// (dynamicpb and protojson) does exactly, and is left to it.
var errFallback = errors.New("pbjson: message left to the reflective decoder")

// errWire: the bytes are not protobuf's wire format; proto.Unmarshal
// fails on the same bytes.
var errWire = errors.New("cannot parse invalid wire-format data")

// errMapKey: a map entry has a key and then a key of another wire type.
// Generated code skips the second as unknown, but proto.Unmarshal into
// dynamicpb (protobuf-go v1.36) loses the first and panics; both decoders
// fail such an entry so that a message decodes the same whichever runs.
var errMapKey = errors.New("map entry key repeated with another wire type")

// maxDepth bounds how deeply the transcoder nests messages. Deeper ones
// are left to the reflective decoder, which applies protobuf's own limit;
// real schemas are far shallower.
const maxDepth = 100

// maxScratch bounds the occurrences or entries a pooled transcoder keeps
// between messages, so that one huge message does not pin its scratch.
const maxScratch = 1 << 14

// transcoders holds scratch state for Append, which pipeline workers call
// concurrently.
var transcoders = sync.Pool{New: func() any { return new(transcoder) }}

// transcoder writes protobuf wire-format messages as the JSON protojson
// writes for them (default options), straight from the wire, with no
// message built in between. Its scratch is reused from message to
// message: it is not safe for concurrent use.
type transcoder struct {
	// occs holds the fields read of every message being written, the
	// outermost first; each message's run is sorted by field.
	occs []occurrence
	// wins holds, per oneof of those messages, the index in occs of the
	// field that came last on the wire and so is the one set (-1: none).
	wins []int
	// ents holds the entries of the maps being written.
	ents []mapEntry
}

// occurrence is one appearance of a known field on the wire.
type occurrence struct {
	// val is a varint or fixed value; start and end bound it in its
	// message, or the contents of a length-delimited value (a string,
	// bytes, a message, a map entry or a packed run).
	val        uint64
	start, end int32
	field      int32
	packed     bool
}

// transcode appends the JSON of the message b of plan p to dst. It
// returns errFallback, with dst as it was, when the message must go to
// the reflective decoder instead.
func (t *transcoder) transcode(dst []byte, p *plan, b []byte) ([]byte, error) {
	if p.fallback || len(b) > math.MaxInt32 {
		// Offsets into b are int32, which keeps the scratch small.
		return dst, errFallback
	}
	mark := len(dst)
	out, err := t.message(dst, p, b, 0)
	t.reset()
	if err != nil {
		return out[:mark], err
	}
	return out, nil
}

// reset empties the scratch, letting go of an outsized one.
func (t *transcoder) reset() {
	t.occs, t.wins, t.ents = t.occs[:0], t.wins[:0], t.ents[:0]
	if cap(t.occs) > maxScratch {
		t.occs = nil
	}
	if cap(t.wins) > maxScratch {
		t.wins = nil
	}
	if cap(t.ents) > maxScratch {
		t.ents = nil
	}
}

// level is the message being written.
type level struct {
	b []byte
	// wbase is where the message's oneofs start in transcoder.wins.
	wbase int
	// open is the length of the output after the message's '{': a member
	// written past it needs a comma first.
	open  int
	depth int
}

// member starts the object member of field f.
func (lv *level) member(dst []byte, f *fieldPlan) []byte {
	if len(dst) > lv.open {
		dst = append(dst, ',')
	}
	return append(dst, f.name...)
}

// message appends the JSON of message b. Its fields are read first, then
// written in declaration order, as protojson orders them, or in the form
// of its own protojson gives a well-known type.
func (t *transcoder) message(dst []byte, p *plan, b []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, errFallback
	}
	base := len(t.occs)
	if err := t.read(p, b); err != nil {
		return dst, err
	}
	end := len(t.occs)
	sortOccurrences(t.occs[base:end])
	lv := level{b: b, wbase: len(t.wins), depth: depth}
	for range p.oneofs {
		t.wins = append(t.wins, -1)
	}
	for i := base; i < end; i++ {
		if o := p.fields[t.occs[i].field].oneof; o >= 0 {
			if w := &t.wins[lv.wbase+o]; *w < 0 || t.occs[i].start > t.occs[*w].start {
				*w = i
			}
		}
	}
	var err error
	if p.special == plain {
		dst, err = t.object(dst, &lv, p, base, end)
	} else {
		dst, err = t.special(dst, &lv, p, base, end)
	}
	if err != nil {
		return dst, err
	}
	t.occs = t.occs[:base]
	t.wins = t.wins[:lv.wbase]
	return dst, nil
}

// object writes a message as a JSON object of its fields, from their
// occurrences occs[base:end].
func (t *transcoder) object(dst []byte, lv *level, p *plan, base, end int) ([]byte, error) {
	dst = append(dst, '{')
	lv.open = len(dst)
	for i := base; i < end; {
		j := run(t.occs, i, end)
		var err error
		if dst, err = t.field(dst, lv, &p.fields[t.occs[i].field], i, j); err != nil {
			return dst, err
		}
		i = j
	}
	return append(dst, '}'), nil
}

// run is the end of the occurrences of the field of occs[i], which sorting
// put together.
func run(occs []occurrence, i, end int) int {
	j := i + 1
	for j < end && occs[j].field == occs[i].field {
		j++
	}
	return j
}

// read notes the known fields of message b, checking the whole message
// as proto.Unmarshal does: a field of the wrong wire type is unknown, an
// unknown field is skipped but must be well-formed.
func (t *transcoder) read(p *plan, b []byte) error {
	for pos := 0; pos < len(b); {
		num, wt, n := protowire.ConsumeTag(b[pos:])
		if n < 0 || num > protowire.MaxValidNumber {
			return errWire
		}
		pos += n
		if fi := p.field(num); fi >= 0 {
			f := &p.fields[fi]
			switch {
			case wt == f.wire:
				v, start, stop, n, err := consume(f, b, pos, len(b))
				if err != nil {
					return err
				}
				t.occs = append(t.occs, occurrence{val: v, start: int32(start), end: int32(stop), field: int32(fi)})
				pos += n
				continue
			case wt == protowire.BytesType && f.shape == list && packable(f.wire):
				s, n := protowire.ConsumeBytes(b[pos:])
				if n < 0 || !validPacked(f.wire, s) {
					return errWire
				}
				start := pos + n - len(s)
				t.occs = append(t.occs, occurrence{start: int32(start), end: int32(start + len(s)), field: int32(fi), packed: true})
				pos += n
				continue
			}
		}
		n = protowire.ConsumeFieldValue(num, wt, b[pos:])
		if n < 0 {
			return errWire
		}
		pos += n
	}
	return nil
}

// consume reads one value of f, of its wire type, at b[pos:end]: a
// varint or fixed value, or a length-delimited one. start and stop bound
// the value, without its length for a length-delimited one, whose place
// on the wire orders it among others; n is the length read.
func consume(f *fieldPlan, b []byte, pos, end int) (v uint64, start, stop, n int, err error) {
	start = pos
	switch f.wire {
	case protowire.VarintType:
		v, n = protowire.ConsumeVarint(b[pos:end])
	case protowire.Fixed32Type:
		var v32 uint32
		v32, n = protowire.ConsumeFixed32(b[pos:end])
		v = uint64(v32)
	case protowire.Fixed64Type:
		v, n = protowire.ConsumeFixed64(b[pos:end])
	default:
		var s []byte
		s, n = protowire.ConsumeBytes(b[pos:end])
		if n < 0 {
			break
		}
		start = pos + n - len(s)
		stop = start + len(s)
		if f.kind == protoreflect.StringKind && f.utf8 && !utf8.Valid(s) {
			return 0, 0, 0, 0, fmt.Errorf("field %s: %w", f.fullName, errInvalidUTF8)
		}
	}
	if n < 0 {
		return 0, 0, 0, 0, errWire
	}
	if f.wire != protowire.BytesType {
		stop = pos + n
	}
	return v, start, stop, n, nil
}

// packable says whether a list of values of wire type wt may come packed.
func packable(wt protowire.Type) bool {
	return wt == protowire.VarintType || wt == protowire.Fixed32Type || wt == protowire.Fixed64Type
}

// validPacked says whether s is a whole run of values of wire type wt.
func validPacked(wt protowire.Type, s []byte) bool {
	switch wt {
	case protowire.Fixed32Type:
		return len(s)%4 == 0
	case protowire.Fixed64Type:
		return len(s)%8 == 0
	}
	for len(s) > 0 {
		_, n := protowire.ConsumeVarint(s)
		if n < 0 {
			return false
		}
		s = s[n:]
	}
	return true
}

// sortOccurrences puts a message's occurrences in declaration order, keeping
// each field's in wire order. Encoders write fields in number order,
// which is mostly declaration order too, so sorting is mostly skipped.
func sortOccurrences(rs []occurrence) {
	for i := 1; i < len(rs); i++ {
		if rs[i].field < rs[i-1].field {
			slices.SortFunc(rs, compareOccurrences)
			return
		}
	}
}

func compareOccurrences(x, y occurrence) int {
	if c := cmp.Compare(x.field, y.field); c != 0 {
		return c
	}
	return cmp.Compare(x.start, y.start)
}

// field writes the member of field f from its occurrences occs[i:j], or
// nothing when the field is not set.
func (t *transcoder) field(dst []byte, lv *level, f *fieldPlan, i, j int) ([]byte, error) {
	switch f.shape {
	case list:
		return t.list(dst, lv, f, i, j)
	case mapped:
		return t.mapping(dst, lv, f, i, j)
	}
	if f.kind == protoreflect.MessageKind && j-i > 1 {
		// A message seen again is merged into the first, field by field.
		return dst, errFallback
	}
	r := t.occs[j-1]
	if f.oneof >= 0 && t.occs[t.wins[lv.wbase+f.oneof]].field != t.occs[i].field {
		// A later field of the oneof replaced this one, but proto.Unmarshal
		// read it all the same: a message must still be valid.
		if f.kind == protoreflect.MessageKind {
			return dst, t.validate(f.msg, lv.b[r.start:r.end], lv.depth+1)
		}
		return dst, nil
	}
	if !f.presence && zero(f, r) {
		return dst, nil
	}
	return t.value(lv.member(dst, f), lv, f, r)
}

// zero says whether r holds the zero value of f, which proto3 leaves out.
func zero(f *fieldPlan, r occurrence) bool {
	if f.wire == protowire.BytesType {
		return r.start == r.end
	}
	return isZero(f.kind, r.val)
}

// value writes the one value of f that r holds.
func (t *transcoder) value(dst []byte, lv *level, f *fieldPlan, r occurrence) ([]byte, error) {
	switch f.kind {
	case protoreflect.StringKind:
		out, err := appendString(dst, lv.b[r.start:r.end])
		if err != nil {
			return out, fmt.Errorf("field %s: %w", f.fullName, err)
		}
		return out, nil
	case protoreflect.BytesKind:
		return appendBytes(dst, lv.b[r.start:r.end]), nil
	case protoreflect.MessageKind:
		return t.message(dst, f.msg, lv.b[r.start:r.end], lv.depth+1)
	}
	return appendScalar(dst, f, r.val), nil
}

// list writes a repeated field, its packed and unpacked occurrences alike; a
// list with no element (empty packed runs only) is not set.
func (t *transcoder) list(dst []byte, lv *level, f *fieldPlan, i, j int) ([]byte, error) {
	empty := true
	for k := i; k < j && empty; k++ {
		empty = t.occs[k].packed && t.occs[k].start == t.occs[k].end
	}
	if empty {
		return dst, nil
	}
	return t.array(lv.member(dst, f), lv, f, i, j)
}

// array writes the elements of a repeated field as a JSON array.
func (t *transcoder) array(dst []byte, lv *level, f *fieldPlan, i, j int) ([]byte, error) {
	dst = append(dst, '[')
	open := len(dst)
	for k := i; k < j; k++ {
		r := t.occs[k]
		if r.packed {
			dst = appendPacked(dst, f, lv.b[r.start:r.end], open)
			continue
		}
		if len(dst) > open {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = t.value(dst, lv, f, r); err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}

// appendPacked writes the elements of a packed run that read checked,
// after those already written past open.
func appendPacked(dst []byte, f *fieldPlan, s []byte, open int) []byte {
	for len(s) > 0 {
		var v uint64
		var n int
		switch f.wire {
		case protowire.Fixed32Type:
			var v32 uint32
			v32, n = protowire.ConsumeFixed32(s)
			v = uint64(v32)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(s)
		default:
			v, n = protowire.ConsumeVarint(s)
		}
		s = s[n:]
		if len(dst) > open {
			dst = append(dst, ',')
		}
		dst = appendScalar(dst, f, v)
	}
	return dst
}
