package pbjson

import (
	"math"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The ranges protojson writes: a Timestamp from 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z, a Duration within ±10,000 years, nanos
// below a second.
const (
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799
	maxDurationSeconds  = 315576000000
	maxNanos            = 999999999
)

// special writes a well-known type in protojson's form of it, from the
// occurrences occs[base:end] of its fields. A value protojson refuses (out of
// range, a Value with nothing set, a path it cannot convert) falls back,
// so that the error is the one the reflective decoder has always given;
// such values are rare enough for the cost not to matter.
func (t *transcoder) special(dst []byte, lv *level, p *plan, base, end int) ([]byte, error) {
	switch p.special {
	case asTimestamp:
		secs, nanos := t.seconds(p, base, end)
		if secs < minTimestampSeconds || secs > maxTimestampSeconds || nanos < 0 || nanos > maxNanos {
			return dst, errFallback
		}
		return appendTimestamp(dst, secs, nanos), nil
	case asDuration:
		secs, nanos := t.seconds(p, base, end)
		if secs < -maxDurationSeconds || secs > maxDurationSeconds || nanos < -maxNanos || nanos > maxNanos ||
			(secs > 0 && nanos < 0) || (secs < 0 && nanos > 0) {
			return dst, errFallback
		}
		return appendDuration(dst, secs, nanos), nil
	case asWrapper:
		// An absent value is the zero value, which occurrence{} stands for.
		return t.value(dst, lv, &p.fields[0], t.last(p, 1, base, end))
	case asFieldMask:
		return t.fieldMask(dst, lv, base, end)
	case asStruct:
		return t.entries(dst, lv, &p.fields[0], base, end)
	case asList:
		return t.array(dst, lv, &p.fields[0], base, end)
	}
	return t.valueMessage(dst, lv, p, base, end)
}

// last is the occurrence of field num that came last on the wire, the one
// proto.Unmarshal keeps, or the zero occurrence when there is none.
func (t *transcoder) last(p *plan, num protowire.Number, base, end int) occurrence {
	fi := int32(p.field(num))
	for k := end - 1; k >= base; k-- {
		if t.occs[k].field == fi {
			return t.occs[k]
		}
	}
	return occurrence{}
}

// seconds reads a Timestamp's or a Duration's seconds (int64) and nanos
// (int32, so the low 32 bits of the varint, sign-extended).
func (t *transcoder) seconds(p *plan, base, end int) (secs, nanos int64) {
	return int64(t.last(p, 1, base, end).val), int64(int32(t.last(p, 2, base, end).val))
}

// appendTimestamp writes a Timestamp in range as protojson does.
func appendTimestamp(dst []byte, secs, nanos int64) []byte {
	tm := time.Unix(secs, nanos).UTC()
	year, month, day := tm.Date()
	hour, minute, second := tm.Clock()
	dst = append(dst, '"')
	dst = append(appendPadded(dst, year, 4), '-')
	dst = append(appendPadded(dst, int(month), 2), '-')
	dst = append(appendPadded(dst, day, 2), 'T')
	dst = append(appendPadded(dst, hour, 2), ':')
	dst = append(appendPadded(dst, minute, 2), ':')
	dst = appendFraction(appendPadded(dst, second, 2), nanos)
	return append(dst, 'Z', '"')
}

// appendDuration writes a Duration in range, seconds and nanos of one
// sign, as protojson does.
func appendDuration(dst []byte, secs, nanos int64) []byte {
	dst = append(dst, '"')
	if secs < 0 || nanos < 0 {
		dst = append(dst, '-')
		secs, nanos = -secs, -nanos
	}
	dst = appendFraction(strconv.AppendInt(dst, secs, 10), nanos)
	return append(dst, 's', '"')
}

// appendFraction writes the fraction of a second nanos makes with 0, 3, 6
// or 9 digits, the fewest that hold it exactly, as protojson does.
func appendFraction(dst []byte, nanos int64) []byte {
	if nanos == 0 {
		return dst
	}
	digits := 9
	for digits > 3 && nanos%1000 == 0 {
		nanos /= 1000
		digits -= 3
	}
	return appendPadded(append(dst, '.'), int(nanos), digits)
}

// appendPadded writes the non-negative v in width digits, zeros first.
func appendPadded(dst []byte, v, width int) []byte {
	n := len(dst)
	for range width {
		dst = append(dst, '0')
	}
	for i := len(dst) - 1; i >= n && v > 0; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
	return dst
}

// fieldMask writes a FieldMask's paths, the occurrences occs[base:end] of its
// one field, as one string.
func (t *transcoder) fieldMask(dst []byte, lv *level, base, end int) ([]byte, error) {
	dst = append(dst, '"')
	for k := base; k < end; k++ {
		if k > base {
			dst = append(dst, ',')
		}
		var ok bool
		r := t.occs[k]
		if dst, ok = appendCamelPath(dst, lv.b[r.start:r.end]); !ok {
			return dst, errFallback
		}
	}
	return append(dst, '"'), nil
}

// appendCamelPath writes a FieldMask path in lowerCamelCase: each '_'
// dropped and a lower-case letter after it raised. protojson refuses a
// path that is not a valid full name, or that the reverse conversion
// (each capital lowered after a '_') does not bring back; then ok is
// false. A valid path is ASCII letters, digits, '_' and '.', none of
// which JSON escapes.
func appendCamelPath(dst, path []byte) (_ []byte, ok bool) {
	if !validFullName(path) {
		return dst, false
	}
	mark := len(dst)
	under := false
	for _, c := range path {
		if c == '_' {
			under = true
			continue
		}
		if under && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		dst = append(dst, c)
		under = false
	}
	i := 0
	for _, c := range dst[mark:] {
		if 'A' <= c && c <= 'Z' {
			if i >= len(path) || path[i] != '_' {
				return dst, false
			}
			i++
			c += 'a' - 'A'
		}
		if i >= len(path) || path[i] != c {
			return dst, false
		}
		i++
	}
	return dst, i == len(path)
}

// validFullName says whether b is identifiers ([A-Za-z_][A-Za-z0-9_]*)
// joined by dots.
func validFullName(b []byte) bool {
	start := true
	for _, c := range b {
		switch {
		case c == '.':
			if start {
				return false
			}
			start = true
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			start = false
		case '0' <= c && c <= '9':
			if start {
				return false
			}
		default:
			return false
		}
	}
	return !start
}

// valueMessage writes a Value: the JSON of the member of its oneof that came last
// on the wire. Members it replaced were read all the same, so a message
// among them must still be valid.
func (t *transcoder) valueMessage(dst []byte, lv *level, p *plan, base, end int) ([]byte, error) {
	w := t.wins[lv.wbase]
	if w < 0 {
		return dst, errFallback
	}
	for i := base; i < end; {
		j := run(t.occs, i, end)
		f := &p.fields[t.occs[i].field]
		if f.kind == protoreflect.MessageKind && j-i > 1 {
			// A message seen again is merged into the first.
			return dst, errFallback
		}
		r := t.occs[j-1]
		var err error
		switch {
		case t.occs[i].field != t.occs[w].field:
			if f.kind == protoreflect.MessageKind {
				err = t.validate(f.msg, lv.b[r.start:r.end], lv.depth+1)
			}
		case f.kind == protoreflect.DoubleKind && !finite(r.val):
			// JSON has no number for NaN or the infinities, and protojson
			// refuses to write them as strings in a Value.
			return dst, errFallback
		default:
			dst, err = t.value(dst, lv, f, r)
		}
		if err != nil {
			return dst, err
		}
		i = j
	}
	return dst, nil
}

// finite says whether the double of bits v is neither NaN nor infinite.
func finite(v uint64) bool {
	f := math.Float64frombits(v)
	return !math.IsNaN(f) && !math.IsInf(f, 0)
}
