package record

import "strings"

// fieldSet holds the names whose values are masked in bodies, lower-cased.
// Body keys are looked up by the million, so instead of hashing each key
// (and lower-casing it into a new string first) a key is first checked
// against the lengths of the names, which rejects almost every key at the
// cost of one bit test, then compared byte by byte, ASCII case folded.
type fieldSet struct {
	names []string
	// lens has bit n set when a name is n bytes long (n < 64).
	lens uint64
	// long is set when a name is 64 bytes or longer.
	long bool
}

func newFieldSet(names []string) *fieldSet {
	f := &fieldSet{}
	for _, n := range names {
		n = strings.ToLower(n)
		f.names = append(f.names, n)
		if len(n) < 64 {
			f.lens |= 1 << len(n)
		} else {
			f.long = true
		}
	}
	return f
}

// lookupField returns the set's name for key when key, ASCII lower-cased,
// is in the set. A nil set holds nothing.
func lookupField[T string | []byte](f *fieldSet, key T) (string, bool) {
	if f == nil {
		return "", false
	}
	if len(key) < 64 {
		if f.lens&(1<<len(key)) == 0 {
			return "", false
		}
	} else if !f.long {
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
