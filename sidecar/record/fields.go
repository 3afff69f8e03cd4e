package record

import "strings"

// fieldSet holds the names whose values are masked in bodies, lower-cased.
// Body keys are looked up by the million, so instead of hashing each key
// (and lower-casing it into a new string first) a key is first checked
// against a filter of the names' lengths and first letters, which rejects
// almost every key at the cost of one bit test, then compared byte by byte,
// ASCII case folded.
type fieldSet struct {
	names  []string
	filter fieldFilter
}

func newFieldSet(names []string) *fieldSet {
	f := &fieldSet{}
	for _, n := range names {
		n = strings.ToLower(n)
		f.names = append(f.names, n)
		f.filter.add(len(n), firstByte(n))
	}
	return f
}

// fieldFilter holds the classes of the names: the length modulo 8 and the
// first byte's low five bits, which are the same for both cases of an ASCII
// letter. The default names differ from the common keys of the same length
// ("token", "price") in their first letter.
type fieldFilter [4]uint64

func filterBit(n int, first byte) uint8 {
	return uint8(n)<<5 | first&31
}

func (f *fieldFilter) add(n int, first byte) {
	bit := filterBit(n, first)
	f[bit/64] |= 1 << (bit % 64)
}

// has reports whether a key of n bytes starting with first can be in the
// set. It is small enough to be inlined where keys are looked up by the
// million, so that the keys it rejects cost no call.
func (f *fieldFilter) has(n int, first byte) bool {
	bit := filterBit(n, first)
	return f[bit/64]&(1<<(bit%64)) != 0
}

// firstByte returns the byte a key's class is taken from: its first, or
// for an empty key a quote, the byte that follows the opening quote of an
// empty JSON string, so that the JSON scanner reads the byte untested.
func firstByte[T string | []byte](key T) byte {
	if len(key) == 0 {
		return '"'
	}
	return key[0]
}

// lookupField returns the set's name for key when key, ASCII lower-cased,
// is in the set. A nil set holds nothing.
func lookupField[T string | []byte](f *fieldSet, key T) (string, bool) {
	if f == nil || !f.filter.has(len(key), firstByte(key)) {
		return "", false
	}
	for _, name := range f.names {
		if len(name) == len(key) && equalLowerASCII(key, name) {
			return name, true
		}
	}
	return "", false
}

// equalLowerASCII reports whether key with A-Z lower-cased is lower.
func equalLowerASCII[T string | []byte](key T, lower string) bool {
	for i := range len(lower) {
		b := key[i]
		if b >= 'A' && b <= 'Z' {
			b += 'a' - 'A'
		}
		if b != lower[i] {
			return false
		}
	}
	return true
}
