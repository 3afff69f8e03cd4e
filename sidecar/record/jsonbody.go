package record

import (
	"unicode/utf8"
)

// maxJSONDepth bounds nesting so that a hostile body cannot drive the
// scanner's recursion deep; deeper bodies are emitted as strings.
const maxJSONDepth = 256

// redactedValue replaces masked values.
const redactedValue = `"[REDACTED]"`

// jsonCompactor validates a JSON document and appends it compacted (no
// insignificant whitespace, so a record stays one line) in a single pass,
// masking the values of object keys in redact. It is the hot path of
// encoding: a document is read once, and nothing is allocated but the
// output.
type jsonCompactor struct {
	src    []byte
	pos    int
	dst    []byte
	redact map[string]bool
	// hits collects the masked keys, lower-cased.
	hits []string
	// badUTF8 is set by str when the string holds invalid UTF-8, which
	// encoding/json accepts but a record must not carry.
	badUTF8 bool
}

// appendToken copies a string token, replacing invalid UTF-8 with U+FFFD.
func (c *jsonCompactor) appendToken(tok []byte) {
	if !c.badUTF8 {
		c.dst = append(c.dst, tok...)
		return
	}
	c.badUTF8 = false
	for len(tok) > 0 {
		r, size := utf8.DecodeRune(tok)
		if r == utf8.RuneError && size == 1 {
			c.dst = append(c.dst, "\ufffd"...)
		} else {
			c.dst = append(c.dst, tok[:size]...)
		}
		tok = tok[size:]
	}
}

// appendCompactJSON appends src compacted to dst. ok is false when src is
// not valid JSON; dst is then returned unchanged.
func appendCompactJSON(dst, src []byte, redact map[string]bool) (out []byte, hits []string, ok bool) {
	c := jsonCompactor{src: src, dst: dst, redact: redact}
	c.skipSpace()
	if !c.value(0) {
		return dst, nil, false
	}
	c.skipSpace()
	if c.pos != len(c.src) {
		return dst, nil, false
	}
	return c.dst, c.hits, true
}

func (c *jsonCompactor) skipSpace() {
	for c.pos < len(c.src) {
		switch c.src[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *jsonCompactor) value(depth int) bool {
	if c.pos >= len(c.src) || depth > maxJSONDepth {
		return false
	}
	switch b := c.src[c.pos]; {
	case b == '{':
		return c.object(depth)
	case b == '[':
		return c.array(depth)
	case b == '"':
		start := c.pos
		if !c.str() {
			return false
		}
		c.appendToken(c.src[start:c.pos])
		return true
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	case b == '-' || (b >= '0' && b <= '9'):
		return c.number()
	}
	return false
}

func (c *jsonCompactor) literal(lit string) bool {
	if len(c.src)-c.pos < len(lit) || string(c.src[c.pos:c.pos+len(lit)]) != lit {
		return false
	}
	c.dst = append(c.dst, lit...)
	c.pos += len(lit)
	return true
}

func (c *jsonCompactor) object(depth int) bool {
	c.dst = append(c.dst, '{')
	c.pos++
	c.skipSpace()
	if c.pos < len(c.src) && c.src[c.pos] == '}' {
		c.pos++
		c.dst = append(c.dst, '}')
		return true
	}
	for {
		if c.pos >= len(c.src) || c.src[c.pos] != '"' {
			return false
		}
		keyStart := c.pos
		if !c.str() {
			return false
		}
		key := c.src[keyStart:c.pos]
		c.appendToken(key)
		c.skipSpace()
		if c.pos >= len(c.src) || c.src[c.pos] != ':' {
			return false
		}
		c.pos++
		c.dst = append(c.dst, ':')
		c.skipSpace()
		if name, masked := c.masked(key[1 : len(key)-1]); masked {
			// The value is still validated, but not copied.
			mark := len(c.dst)
			if !c.value(depth + 1) {
				return false
			}
			c.dst = append(c.dst[:mark], redactedValue...)
			c.hits = append(c.hits, name)
		} else if !c.value(depth + 1) {
			return false
		}
		c.skipSpace()
		if c.pos >= len(c.src) {
			return false
		}
		switch c.src[c.pos] {
		case ',':
			c.pos++
			c.dst = append(c.dst, ',')
			c.skipSpace()
		case '}':
			c.pos++
			c.dst = append(c.dst, '}')
			return true
		default:
			return false
		}
	}
}

// masked reports whether a raw (still escaped) key is to be redacted.
// Keys with escapes are compared as written; sensitive key names are
// plain ASCII in practice.
func (c *jsonCompactor) masked(raw []byte) (string, bool) {
	if len(c.redact) == 0 || len(raw) > 64 {
		return "", false
	}
	var buf [64]byte
	lower := buf[:len(raw)]
	for i, b := range raw {
		if b >= 'A' && b <= 'Z' {
			b += 'a' - 'A'
		}
		lower[i] = b
	}
	if c.redact[string(lower)] {
		return string(lower), true
	}
	return "", false
}

func (c *jsonCompactor) array(depth int) bool {
	c.dst = append(c.dst, '[')
	c.pos++
	c.skipSpace()
	if c.pos < len(c.src) && c.src[c.pos] == ']' {
		c.pos++
		c.dst = append(c.dst, ']')
		return true
	}
	for {
		if !c.value(depth + 1) {
			return false
		}
		c.skipSpace()
		if c.pos >= len(c.src) {
			return false
		}
		switch c.src[c.pos] {
		case ',':
			c.pos++
			c.dst = append(c.dst, ',')
			c.skipSpace()
		case ']':
			c.pos++
			c.dst = append(c.dst, ']')
			return true
		default:
			return false
		}
	}
}

// str advances over a string token, validating escapes and control
// characters, and noting invalid UTF-8 for appendToken.
func (c *jsonCompactor) str() bool {
	c.pos++
	for c.pos < len(c.src) {
		b := c.src[c.pos]
		switch {
		case b == '"':
			c.pos++
			return true
		case b == '\\':
			if c.pos+1 >= len(c.src) {
				return false
			}
			switch c.src[c.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				c.pos += 2
			case 'u':
				if c.pos+6 > len(c.src) {
					return false
				}
				for _, h := range c.src[c.pos+2 : c.pos+6] {
					if !isHex(h) {
						return false
					}
				}
				c.pos += 6
			default:
				return false
			}
		case b < 0x20:
			return false
		case b < utf8.RuneSelf:
			c.pos++
		default:
			r, size := utf8.DecodeRune(c.src[c.pos:])
			if r == utf8.RuneError && size == 1 {
				c.badUTF8 = true
			}
			c.pos += size
		}
	}
	return false
}

func isHex(b byte) bool {
	return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F')
}

func (c *jsonCompactor) number() bool {
	start := c.pos
	if c.src[c.pos] == '-' {
		c.pos++
	}
	if c.pos >= len(c.src) {
		return false
	}
	if c.src[c.pos] == '0' {
		c.pos++
	} else if !c.digits() {
		return false
	}
	if c.pos < len(c.src) && c.src[c.pos] == '.' {
		c.pos++
		if !c.digits() {
			return false
		}
	}
	if c.pos < len(c.src) && (c.src[c.pos] == 'e' || c.src[c.pos] == 'E') {
		c.pos++
		if c.pos < len(c.src) && (c.src[c.pos] == '+' || c.src[c.pos] == '-') {
			c.pos++
		}
		if !c.digits() {
			return false
		}
	}
	c.dst = append(c.dst, c.src[start:c.pos]...)
	return true
}

func (c *jsonCompactor) digits() bool {
	start := c.pos
	for c.pos < len(c.src) && c.src[c.pos] >= '0' && c.src[c.pos] <= '9' {
		c.pos++
	}
	return c.pos > start
}
