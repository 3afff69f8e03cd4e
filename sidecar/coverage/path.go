package coverage

import "strings"

// idSegment stands for a path segment that looks like an id, so that
// /users/17 and /users/18 are one endpoint.
const idSegment = "{id}"

// shapePath replaces the segments of p that look like ids with {id}. It
// returns p itself, without allocating, when none does.
func shapePath(p string) string {
	var b strings.Builder
	copied, start := 0, 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		if looksLikeID(p[start:i]) {
			b.WriteString(p[copied:start])
			b.WriteString(idSegment)
			copied = i
		}
		start = i + 1
	}
	if copied == 0 {
		return p
	}
	b.WriteString(p[copied:])
	return b.String()
}

// looksLikeID accepts a segment of digits, a UUID, or 16 or more hex
// digits (hashes, object ids): values, not names.
func looksLikeID(s string) bool {
	if s == "" {
		return false
	}
	digits, hex := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
			hex++
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
			hex++
		case c == '-' && len(s) == 36 && (i == 8 || i == 13 || i == 18 || i == 23):
		default:
			return false
		}
	}
	switch {
	case digits == len(s):
		return true
	case len(s) == 36:
		return hex == 32
	}
	return hex == len(s) && len(s) >= 16 && digits > 0
}
