package record

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting, so that the container stack stays small
// whatever the body; deeper bodies are emitted as strings.
const maxJSONDepth = 256

// redactedValue replaces masked values.
const redactedValue = `"[REDACTED]"`

// jsonCompactor validates a JSON document and appends it compacted (no
// insignificant whitespace, so a record stays one line) in a single pass,
// masking the values of object keys in redact. It is the hot path of
// encoding, so it is one loop over the bytes with an explicit container
// stack rather than a call per token, and it copies src to dst in runs: a
// run ends only at whitespace to drop, a masked value or a string to
// repair, so a document that is already compact, as most API bodies are, is
// copied by one append.
type jsonCompactor struct {
	src []byte
	// done is where the bytes of src not yet copied to dst start.
	done   int
	dst    []byte
	redact *fieldSet
	// hits collects the masked keys, lower-cased.
	hits []string
	// masks are the masked values being scanned, innermost last.
	masks []mask
	// objects has bit d set when the container at depth d is an object.
	objects [maxJSONDepth/64 + 1]uint64
	depth   uint
}

// mask is a masked value in progress: once the scan is back at depth, the
// value's output from mark on is replaced by redactedValue.
type mask struct {
	depth uint
	mark  int
	name  string
}

// appendCompactJSON appends src compacted to dst. ok is false when src is
// not valid JSON; dst is then returned unchanged.
func appendCompactJSON(dst, src []byte, redact *fieldSet) (out []byte, hits []string, ok bool) {
	c := jsonCompactor{src: src, dst: dst, redact: redact}
	end, ok := c.scan()
	if !ok {
		return dst, nil, false
	}
	if end = c.space(end); end != len(src) {
		return dst, nil, false
	}
	c.flush(end)
	return c.dst, c.hits, true
}

// flush copies the run src[done:i].
func (c *jsonCompactor) flush(i int) {
	c.dst = append(c.dst, c.src[c.done:i]...)
	c.done = i
}

// space returns the end of the whitespace at i, which it drops. It runs
// between every two tokens, so its common case (no whitespace) is kept
// small enough to be inlined.
func (c *jsonCompactor) space(i int) int {
	if i < len(c.src) && jsonSpace[c.src[i]] {
		return c.dropSpace(i)
	}
	return i
}

//go:noinline
func (c *jsonCompactor) dropSpace(i int) int {
	c.flush(i)
	for i < len(c.src) && jsonSpace[c.src[i]] {
		i++
	}
	c.done = i
	return i
}

// jsonSpace marks JSON's insignificant whitespace.
var jsonSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// scan reads one value from the start of src and returns where it ends.
// It is a state machine over three states: a value is expected, a key is
// expected, or a value has just ended.
func (c *jsonCompactor) scan() (int, bool) {
	src := c.src
	i := 0
value:
	if i >= len(src) || c.depth > maxJSONDepth {
		return i, false
	}
	switch b := src[i]; {
	case b == '"':
		if end := shortString(src, i); end > 0 {
			i = end
			break
		}
		start := i
		var ok, bad bool
		if i, ok, bad = scanString(src, i); !ok {
			return i, false
		}
		if bad {
			c.repairString(start, i)
		}
	case b == '{':
		c.push(true)
		if i = c.space(i + 1); i < len(src) && src[i] == '}' {
			c.depth--
			i++
			goto after
		}
		goto key
	case b == '[':
		c.push(false)
		if i = c.space(i + 1); i < len(src) && src[i] == ']' {
			c.depth--
			i++
			goto after
		}
		goto value
	case b == 't':
		if i = literal(src, i, "true"); i < 0 {
			return 0, false
		}
	case b == 'f':
		if i = literal(src, i, "false"); i < 0 {
			return 0, false
		}
	case b == 'n':
		if i = literal(src, i, "null"); i < 0 {
			return 0, false
		}
	case b == '-' || (b >= '0' && b <= '9'):
		if i = number(src, i); i < 0 {
			return 0, false
		}
	case jsonSpace[b]:
		// Whitespace is looked for only where a token was not found,
		// which in compact documents is never.
		i = c.dropSpace(i)
		goto value
	default:
		return i, false
	}

after:
	if n := len(c.masks); n > 0 && c.masks[n-1].depth == c.depth {
		m := c.masks[n-1]
		c.masks = c.masks[:n-1]
		c.dst = append(c.dst[:m.mark], redactedValue...)
		c.done = i
		c.hits = append(c.hits, m.name)
	}
	if c.depth == 0 {
		return i, true
	}
separator:
	if i >= len(src) {
		return i, false
	}
	switch src[i] {
	case ',':
		i++
		if c.inObject() {
			goto key
		}
		goto value
	case '}':
		if !c.inObject() {
			return i, false
		}
	case ']':
		if c.inObject() {
			return i, false
		}
	default:
		if jsonSpace[src[i]] {
			i = c.dropSpace(i)
			goto separator
		}
		return i, false
	}
	c.depth--
	i++
	goto after

key:
	if i >= len(src) {
		return i, false
	}
	if src[i] != '"' {
		if jsonSpace[src[i]] {
			i = c.dropSpace(i)
			goto key
		}
		return i, false
	}
	{
		start := i
		var ok, bad bool
		if end := shortString(src, i); end > 0 {
			i, ok = end, true
		} else if i, ok, bad = scanString(src, i); !ok {
			return i, false
		}
		key := src[start+1 : i-1]
		if bad {
			c.repairString(start, i)
		}
		if i = c.space(i); i >= len(src) || src[i] != ':' {
			return i, false
		}
		// Whitespace after the colon is dropped by value; a mask's mark
		// before it is still right, since dropped bytes are not copied.
		if i++; len(key) <= 64 {
			// Keys with escapes are compared as written, and long keys are
			// never masked: sensitive key names are short plain ASCII.
			if name, masked := lookupField(c.redact, key); masked {
				// The value is still validated, but not copied.
				c.flush(i)
				c.masks = append(c.masks, mask{depth: c.depth, mark: len(c.dst), name: name})
			}
		}
	}
	goto value
}

// push opens a container one level deeper.
func (c *jsonCompactor) push(object bool) {
	c.depth++
	if c.depth > maxJSONDepth {
		return // value fails on the next step, before any use of the bit
	}
	word, bit := c.depth/64, c.depth%64
	if object {
		c.objects[word] |= 1 << bit
	} else {
		c.objects[word] &^= 1 << bit
	}
}

func (c *jsonCompactor) inObject() bool {
	return c.objects[c.depth/64]&(1<<(c.depth%64)) != 0
}

// repairString replaces the string token src[start:end], which holds
// invalid UTF-8, with a copy in which each invalid byte is U+FFFD.
func (c *jsonCompactor) repairString(start, end int) {
	c.flush(start)
	for tok := c.src[start:end]; len(tok) > 0; {
		r, size := utf8.DecodeRune(tok)
		if r == utf8.RuneError && size == 1 {
			c.dst = append(c.dst, "\ufffd"...)
		} else {
			c.dst = append(c.dst, tok[:size]...)
		}
		tok = tok[size:]
	}
	c.done = end
}

func literal(src []byte, i int, lit string) int {
	if len(src)-i < len(lit) || string(src[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// plainString marks the bytes a string token holds as they are: printable
// ASCII but the quote and the backslash.
var plainString = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// SWAR constants: a byte of each in all eight lanes.
const (
	lanes01 = 0x0101010101010101
	lanes80 = 0x8080808080808080
)

// special8 marks the bytes of x that a string cannot hold as they are: a
// quote, a backslash, a control character or non-ASCII. Each test sets a
// lane's high bit for a byte that fails it; a borrow can set the bits of
// lanes above a marked one, never below, so the lowest mark is exact.
func special8(x uint64) uint64 {
	hasZero := func(v uint64) uint64 { return (v - lanes01) &^ v & lanes80 }
	control := (x - lanes01*0x20) &^ x & lanes80
	return (hasZero(x^(lanes01*'"')) | hasZero(x^(lanes01*'\\')) | control | x) & lanes80
}

// shortString returns the end of the string token at src[i] when it is
// plain and shorter than eight bytes, as most keys and many values are,
// and 0 otherwise (scanString then reads it). It is the one step of
// scanString's loop that such a string needs, without the call.
func shortString(src []byte, i int) int {
	if i+9 > len(src) {
		return 0
	}
	m := special8(binary.LittleEndian.Uint64(src[i+1:]))
	if m == 0 {
		return 0
	}
	if j := i + 1 + bits.TrailingZeros64(m)/8; src[j] == '"' {
		return j + 1
	}
	return 0
}

// scanString advances over the string token at src[i], validating escapes
// and control characters. bad reports invalid UTF-8, which encoding/json
// accepts but a record must not carry. Plain bytes are skipped eight at a
// time: the first byte that is not plain is found in one step.
func scanString(src []byte, i int) (end int, ok, bad bool) {
	i++
	for {
		for i+8 <= len(src) {
			m := special8(binary.LittleEndian.Uint64(src[i:]))
			if m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		for i < len(src) && plainString[src[i]] {
			i++
		}
		if i >= len(src) {
			return i, false, bad
		}
		switch b := src[i]; {
		case b == '"':
			return i + 1, true, bad
		case b == '\\':
			if i+1 >= len(src) {
				return i, false, bad
			}
			switch src[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(src) {
					return i, false, bad
				}
				for _, h := range src[i+2 : i+6] {
					if !isHex(h) {
						return i, false, bad
					}
				}
				i += 6
			default:
				return i, false, bad
			}
		case b < 0x20:
			return i, false, bad
		default:
			r, size := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && size == 1 {
				bad = true
			}
			i += size
		}
	}
}

func isHex(b byte) bool {
	return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F')
}

// number returns the end of the number at src[i], or -1.
func number(src []byte, i int) int {
	if src[i] == '-' {
		i++
	}
	if i >= len(src) {
		return -1
	}
	if src[i] == '0' {
		i++
	} else if i = digits(src, i); i < 0 {
		return -1
	}
	if i < len(src) && src[i] == '.' {
		if i = digits(src, i+1); i < 0 {
			return -1
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		if i = digits(src, i); i < 0 {
			return -1
		}
	}
	return i
}

// digits returns the end of one or more digits at src[i], or -1.
func digits(src []byte, i int) int {
	start := i
	for i < len(src) && src[i] >= '0' && src[i] <= '9' {
		i++
	}
	if i == start {
		return -1
	}
	return i
}
