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
// encoding, so it copies src to dst in runs: a run ends only at whitespace
// to drop, a masked value or a string to repair, and a document that is
// already compact, as most API bodies are, is copied by one append.
type jsonCompactor struct {
	src []byte
	pos int
	// done is where the bytes of src not yet copied to dst start.
	done   int
	dst    []byte
	redact *fieldSet
	// hits collects the masked keys, lower-cased.
	hits []string
	// badUTF8 is set by str when the string holds invalid UTF-8, which
	// encoding/json accepts but a record must not carry.
	badUTF8 bool
}

// flush copies the run src[done:pos].
func (c *jsonCompactor) flush() {
	c.dst = append(c.dst, c.src[c.done:c.pos]...)
	c.done = c.pos
}

// repairString replaces the string token src[start:pos], which holds
// invalid UTF-8, with a copy in which each invalid byte is U+FFFD.
func (c *jsonCompactor) repairString(start int) {
	end := c.pos
	c.pos = start
	c.flush()
	c.badUTF8 = false
	for tok := c.src[start:end]; len(tok) > 0; {
		r, size := utf8.DecodeRune(tok)
		if r == utf8.RuneError && size == 1 {
			c.dst = append(c.dst, "\ufffd"...)
		} else {
			c.dst = append(c.dst, tok[:size]...)
		}
		tok = tok[size:]
	}
	c.pos, c.done = end, end
}

// appendCompactJSON appends src compacted to dst. ok is false when src is
// not valid JSON; dst is then returned unchanged.
func appendCompactJSON(dst, src []byte, redact *fieldSet) (out []byte, hits []string, ok bool) {
	c := jsonCompactor{src: src, dst: dst, redact: redact}
	c.skipSpace()
	if !c.value(0) {
		return dst, nil, false
	}
	c.skipSpace()
	if c.pos != len(c.src) {
		return dst, nil, false
	}
	c.flush()
	return c.dst, c.hits, true
}

// skipSpace drops the whitespace at pos, ending the run before it.
func (c *jsonCompactor) skipSpace() {
	if c.pos >= len(c.src) || !isSpace(c.src[c.pos]) {
		return
	}
	c.flush()
	for c.pos < len(c.src) && isSpace(c.src[c.pos]) {
		c.pos++
	}
	c.done = c.pos
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

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
		if c.badUTF8 {
			c.repairString(start)
		}
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
	c.pos += len(lit)
	return true
}

func (c *jsonCompactor) object(depth int) bool {
	c.pos++
	c.skipSpace()
	if c.pos < len(c.src) && c.src[c.pos] == '}' {
		c.pos++
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
		key := c.src[keyStart+1 : c.pos-1]
		if c.badUTF8 {
			c.repairString(keyStart)
		}
		c.skipSpace()
		if c.pos >= len(c.src) || c.src[c.pos] != ':' {
			return false
		}
		c.pos++
		c.skipSpace()
		if name, masked := c.masked(key); masked {
			// The value is still validated, but not copied.
			c.flush()
			mark := len(c.dst)
			if !c.value(depth + 1) {
				return false
			}
			c.dst = append(c.dst[:mark], redactedValue...)
			c.done = c.pos
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
			c.skipSpace()
		case '}':
			c.pos++
			return true
		default:
			return false
		}
	}
}

// masked reports whether a raw (still escaped) key is to be redacted.
// Keys with escapes are compared as written, and keys longer than 64 bytes
// are never masked: sensitive key names are short plain ASCII in practice.
func (c *jsonCompactor) masked(raw []byte) (string, bool) {
	if len(raw) > 64 {
		return "", false
	}
	return lookupField(c.redact, raw)
}

func (c *jsonCompactor) array(depth int) bool {
	c.pos++
	c.skipSpace()
	if c.pos < len(c.src) && c.src[c.pos] == ']' {
		c.pos++
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
			c.skipSpace()
		case ']':
			c.pos++
			return true
		default:
			return false
		}
	}
}

// plainString marks the bytes a string token holds as they are: printable
// ASCII but the quote and the backslash. str skips runs of them at once.
var plainString = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// str advances over a string token, validating escapes and control
// characters, and noting invalid UTF-8 for repairString.
func (c *jsonCompactor) str() bool {
	src := c.src
	i := c.pos + 1
	for {
		for i < len(src) && plainString[src[i]] {
			i++
		}
		if i >= len(src) {
			return false
		}
		switch b := src[i]; {
		case b == '"':
			c.pos = i + 1
			return true
		case b == '\\':
			if i+1 >= len(src) {
				return false
			}
			switch src[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(src) {
					return false
				}
				for _, h := range src[i+2 : i+6] {
					if !isHex(h) {
						return false
					}
				}
				i += 6
			default:
				return false
			}
		case b < 0x20:
			return false
		default:
			r, size := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && size == 1 {
				c.badUTF8 = true
			}
			i += size
		}
	}
}

func isHex(b byte) bool {
	return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F')
}

func (c *jsonCompactor) number() bool {
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
	return true
}

func (c *jsonCompactor) digits() bool {
	start := c.pos
	for c.pos < len(c.src) && c.src[c.pos] >= '0' && c.src[c.pos] <= '9' {
		c.pos++
	}
	return c.pos > start
}
