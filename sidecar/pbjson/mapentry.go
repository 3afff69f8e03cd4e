package pbjson

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// mapEntry is one map entry read from the wire.
type mapEntry struct {
	// key is a numeric or bool key (signed kinds as int64 bits); kstart
	// and kend bound a string key.
	key          uint64
	kstart, kend int32
	val          uint64
	vstart, vend int32
	// seq orders entries as on the wire: the last of equal keys wins.
	seq    int32
	hasVal bool
}

// mapping writes a map field.
func (t *transcoder) mapping(dst []byte, lv *level, f *fieldPlan, i, j int) ([]byte, error) {
	return t.entries(lv.member(dst, f), lv, f, i, j)
}

// entries writes the entries of a map field as a JSON object, its keys
// sorted as protojson sorts them, the last entry of a key winning.
func (t *transcoder) entries(dst []byte, lv *level, f *fieldPlan, i, j int) ([]byte, error) {
	base := len(t.ents)
	for k := i; k < j; k++ {
		e, err := readEntry(f, lv.b, int(t.occs[k].start), int(t.occs[k].end))
		if err != nil {
			return dst, err
		}
		e.seq = int32(k)
		t.ents = append(t.ents, e)
	}
	end := len(t.ents)
	kind, b := f.key.kind, lv.b
	slices.SortFunc(t.ents[base:end], func(x, y mapEntry) int {
		if c := compareKeys(kind, b, &x, &y); c != 0 {
			return c
		}
		return cmp.Compare(x.seq, y.seq)
	})
	dst = append(dst, '{')
	open := len(dst)
	var err error
	for k := base; k < end; k++ {
		e := t.ents[k]
		if k+1 < end && compareKeys(kind, b, &e, &t.ents[k+1]) == 0 {
			// A later entry replaces this one, but proto.Unmarshal read its
			// value all the same: a message must still be valid.
			if f.val.kind == protoreflect.MessageKind && e.hasVal {
				if err = t.validate(f.val.msg, b[e.vstart:e.vend], lv.depth+1); err != nil {
					return dst, err
				}
			}
			continue
		}
		if len(dst) > open {
			dst = append(dst, ',')
		}
		if dst, err = appendKey(dst, f.key, b, &e); err != nil {
			return dst, err
		}
		dst = append(dst, ':')
		switch {
		case e.hasVal:
			dst, err = t.value(dst, lv, f.val, occurrence{val: e.val, start: e.vstart, end: e.vend})
		case f.val.kind == protoreflect.MessageKind:
			// An entry without a value holds an empty message.
			dst, err = t.message(dst, f.val.msg, nil, lv.depth+1)
		case f.val.wire == protowire.BytesType:
			dst = append(dst, `""`...)
		default:
			// Zero, also for an enum: a map's enum has 0 as its first value.
			dst = appendScalar(dst, f.val, 0)
		}
		if err != nil {
			return dst, err
		}
	}
	t.ents = t.ents[:base]
	return append(dst, '}'), nil
}

// readEntry reads the map entry b[pos:end] as proto.Unmarshal does: key
// and value may be missing, repeated (the last wins) or of the wrong
// wire type (then unknown), and other fields are skipped.
func readEntry(f *fieldPlan, b []byte, pos, end int) (mapEntry, error) {
	var e mapEntry
	// haveKey and keyMistyped track the case proto.Unmarshal cannot read
	// into dynamicpb: a key, then a key of the wrong wire type.
	haveKey, keyMistyped := false, false
	for pos < end {
		num, wt, n := protowire.ConsumeTag(b[pos:end])
		if n < 0 || num > protowire.MaxValidNumber {
			return e, errWire
		}
		pos += n
		var sub *fieldPlan
		switch num {
		case 1:
			sub = f.key
		case 2:
			sub = f.val
		}
		if sub == nil || wt != sub.wire {
			if n = protowire.ConsumeFieldValue(num, wt, b[pos:end]); n < 0 {
				return e, errWire
			}
			pos += n
			keyMistyped = keyMistyped || num == 1
			continue
		}
		v, start, stop, n, err := consume(sub, b, pos, end)
		if err != nil {
			return e, err
		}
		pos += n
		if num == 1 {
			e.key, e.kstart, e.kend = keyBits(sub.kind, v), int32(start), int32(stop)
			haveKey, keyMistyped = true, false
			continue
		}
		if sub.kind == protoreflect.MessageKind && e.hasVal {
			// A message value seen again is merged into the first.
			return e, errFallback
		}
		e.val, e.vstart, e.vend, e.hasVal = v, int32(start), int32(stop), true
	}
	if haveKey && keyMistyped {
		return e, errMapKey
	}
	return e, nil
}

// keyBits turns a raw numeric key into the value it stands for: signed
// kinds as int64 bits, unsigned ones zero-extended, bools as 0 or 1.
func keyBits(k protoreflect.Kind, v uint64) uint64 {
	switch k {
	case protoreflect.BoolKind:
		if v != 0 {
			return 1
		}
		return 0
	case protoreflect.Int32Kind, protoreflect.Sfixed32Kind:
		return uint64(int64(int32(v)))
	case protoreflect.Sint32Kind:
		return uint64(int64(int32(protowire.DecodeZigZag(v & 0xffffffff))))
	case protoreflect.Sint64Kind:
		return uint64(protowire.DecodeZigZag(v))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return uint64(uint32(v))
	}
	return v
}

// signedKey says whether keys of kind k compare as signed integers.
func signedKey(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return true
	}
	return false
}

// compareKeys orders keys as protojson does: false before true, numbers
// by value, strings by their bytes.
func compareKeys(k protoreflect.Kind, b []byte, x, y *mapEntry) int {
	switch {
	case k == protoreflect.StringKind:
		return bytes.Compare(b[x.kstart:x.kend], b[y.kstart:y.kend])
	case signedKey(k):
		return cmp.Compare(int64(x.key), int64(y.key))
	}
	return cmp.Compare(x.key, y.key)
}

// appendKey writes a map key as a JSON object member name: JSON names are
// strings, so numbers and bools are quoted.
func appendKey(dst []byte, key *fieldPlan, b []byte, e *mapEntry) ([]byte, error) {
	switch {
	case key.kind == protoreflect.StringKind:
		out, err := appendString(dst, b[e.kstart:e.kend])
		if err != nil {
			return out, fmt.Errorf("map key %s: %w", key.fullName, err)
		}
		return out, nil
	case key.kind == protoreflect.BoolKind:
		if e.key != 0 {
			return append(dst, `"true"`...), nil
		}
		return append(dst, `"false"`...), nil
	case signedKey(key.kind):
		return append(strconv.AppendInt(append(dst, '"'), int64(e.key), 10), '"'), nil
	}
	return append(strconv.AppendUint(append(dst, '"'), e.key, 10), '"'), nil
}
