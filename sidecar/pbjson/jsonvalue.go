package pbjson

import (
	"encoding/base64"
	"errors"
	"math"
	"strconv"

	"github.com/podtap/podtap/internal/jsontext"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// errInvalidUTF8: a string is not UTF-8, which JSON cannot carry and
// protojson refuses.
var errInvalidUTF8 = errors.New("invalid UTF-8")

// appendString appends s as a JSON string, escaping what protojson
// escapes: quotes, backslashes and control characters.
func appendString(dst, s []byte) ([]byte, error) {
	out, valid := jsontext.AppendString(dst, s)
	if !valid {
		return dst, errInvalidUTF8
	}
	return out, nil
}

// appendBytes appends b as protojson writes bytes: padded standard base64.
func appendBytes(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// appendFloat writes f as protojson does: the non-finite values as the
// strings proto3's JSON mapping names them, others as the shortest
// decimal that reads back as the same float of bitSize bits, in exponent
// form when very small or large, like encoding/json.
func appendFloat(dst []byte, f float64, bitSize int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	format := byte('f')
	if a := math.Abs(f); a != 0 {
		small, large := a < 1e-6, a >= 1e21
		if bitSize == 32 {
			small, large = float32(a) < 1e-6, float32(a) >= 1e21
		}
		if small || large {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bitSize)
	if format == 'e' {
		// Exponents are written with at least two digits; encoding/json,
		// and protojson after it, drop the leading zero of a negative one.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// appendScalar writes the raw wire value v of a varint or fixed kind.
// 64-bit integers are strings, as JSON numbers lose their precision.
func appendScalar(dst []byte, f *fieldPlan, v uint64) []byte {
	switch f.kind {
	case protoreflect.BoolKind:
		if v != 0 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case protoreflect.Int32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(dst, int64(int32(v)), 10)
	case protoreflect.Sint32Kind:
		return strconv.AppendInt(dst, int64(int32(protowire.DecodeZigZag(v&math.MaxUint32))), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(dst, uint64(uint32(v)), 10)
	case protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		return append(strconv.AppendInt(append(dst, '"'), int64(v), 10), '"')
	case protoreflect.Sint64Kind:
		return append(strconv.AppendInt(append(dst, '"'), protowire.DecodeZigZag(v), 10), '"')
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return append(strconv.AppendUint(append(dst, '"'), v, 10), '"')
	case protoreflect.FloatKind:
		return appendFloat(dst, float64(math.Float32frombits(uint32(v))), 32)
	case protoreflect.EnumKind:
		if f.enum.null {
			return append(dst, "null"...)
		}
		if name := f.enum.name(protoreflect.EnumNumber(v)); name != nil {
			return append(dst, name...)
		}
		return strconv.AppendInt(dst, int64(int32(v)), 10)
	}
	// The one kind left with a varint or fixed value is double.
	return appendFloat(dst, math.Float64frombits(v), 64)
}

// isZero says whether the raw value v of a varint or fixed kind is what
// proto3 leaves out: 0, false, or +0.0 (-0.0 and NaN are written).
func isZero(k protoreflect.Kind, v uint64) bool {
	switch k {
	case protoreflect.BoolKind, protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind,
		protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return v == 0
	}
	// The 32-bit kinds keep the low 32 bits of the varint.
	return uint32(v) == 0
}
