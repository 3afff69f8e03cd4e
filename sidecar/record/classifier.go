package record

import (
	"unicode/utf16"
	"unicode/utf8"

	"github.com/podtap/podtap/sidecar/classify"
	"github.com/podtap/podtap/sidecar/message"
)

// classifier collects one record's classified values and masks the types
// of redact.types. A nil classifier classifies nothing.
type classifier struct {
	mask classify.Set
	// prefix is the path of the value being scanned, e.g. request.body.
	prefix string
	// path and scratch are reused buffers: a path being built, a string
	// being unescaped.
	path, scratch []byte
	paths         pathTracker
	found         []message.Finding
	// masked are the paths of values masked by type.
	masked []string
}

// reset empties c for a new record, keeping its buffers and mask, and
// drops its reference to the last document scanned.
func (c *classifier) reset() {
	c.prefix = ""
	c.path, c.scratch = c.path[:0], c.scratch[:0]
	c.paths.reset(nil)
	c.found, c.masked = c.found[:0], c.masked[:0]
}

// value classifies v, named key, at the path in c.path; it reports
// whether v is to be masked.
func (c *classifier) value(key, v []byte) bool {
	t := classify.Value(key, v)
	if t == classify.None {
		return false
	}
	return c.add(t)
}

// add records a value of type t at c.path and reports whether it is to be
// masked.
func (c *classifier) add(t classify.Type) bool {
	name := t.String()
	mask := c.mask.Has(t)
	for _, f := range c.found {
		if f.Type == name && f.Path == string(c.path) {
			return mask
		}
	}
	path := string(c.path)
	c.found = append(c.found, message.Finding{Path: path, Type: name})
	if mask {
		c.masked = append(c.masked, path)
	}
	return mask
}

// at sets c.path to c.prefix followed by name, and returns c.
func (c *classifier) at(name string) *classifier {
	c.path = append(append(c.path[:0], c.prefix...), name...)
	return c
}

// unescapeJSON appends the content of a JSON string token's inside, v,
// which the scanner has validated, with its escapes resolved.
func unescapeJSON(dst, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		b := v[i]
		if b != '\\' {
			dst = append(dst, b)
			continue
		}
		i++
		switch v[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := rune(hex4(v[i+1:]))
			i += 4
			if utf16.IsSurrogate(r) && i+6 < len(v) && v[i+1] == '\\' && v[i+2] == 'u' {
				if pair := utf16.DecodeRune(r, rune(hex4(v[i+3:]))); pair != utf8.RuneError {
					r = pair
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			dst = append(dst, v[i])
		}
	}
	return dst
}

func hex4(v []byte) int {
	n := 0
	for _, b := range v[:4] {
		switch {
		case b <= '9':
			b -= '0'
		case b >= 'a':
			b -= 'a' - 10
		default:
			b -= 'A' - 10
		}
		n = n<<4 | int(b)
	}
	return n
}
