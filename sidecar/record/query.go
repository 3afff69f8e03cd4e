package record

import (
	"net/url"
	"strings"
	"unsafe"

	"github.com/podtap/podtap/sidecar/classify"
)

// bytesOf views s as bytes for the classifier, which only reads them.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// query returns the raw query string with the values of parameters named
// in redact.json_fields, or classified as a masked type, replaced by
// [REDACTED]; the rest is kept byte for byte, so that the query keeps its
// shape: token=abc&x=1 becomes token=[REDACTED]&x=1.
func (x *encoding) query(q string) string {
	if q == "" {
		return q
	}
	var out []byte
	done := 0
	for pos := 0; pos <= len(q); {
		end := strings.IndexByte(q[pos:], '&')
		if end < 0 {
			end = len(q)
		} else {
			end += pos
		}
		part := q[pos:end]
		rawName, rawValue, hasValue := strings.Cut(part, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			name = rawName
		}
		mask := false
		if lower, ok := lookupField(x.e.redactFields, name); ok && hasValue {
			x.mark("request.query." + lower)
			mask = true
		} else if x.cls != nil && hasValue {
			value, err := url.QueryUnescape(rawValue)
			if err != nil {
				value = rawValue
			}
			x.cls.prefix = "request.query."
			if t := classify.Value(bytesOf(name), bytesOf(value)); t != classify.None && x.cls.at(name).add(t) {
				x.takeMasked()
				mask = true
			}
		}
		if mask {
			valueStart := pos + len(rawName) + 1
			out = append(out, q[done:valueStart]...)
			out = append(out, "[REDACTED]"...)
			done = end
		}
		pos = end + 1
	}
	if out == nil {
		return q
	}
	return string(append(out, q[done:]...))
}

// classifyHeader classifies one header value, of the header name in the
// block at path, and reports whether its type is masked.
func (x *encoding) classifyHeader(path, name, value string) bool {
	if x.cls == nil {
		return false
	}
	t := classify.Value(bytesOf(name), bytesOf(value))
	if t == classify.None {
		return false
	}
	x.cls.prefix = path
	return x.cls.at(name).add(t)
}

// cookies writes a Cookie or Set-Cookie value with each cookie's value
// masked, by name (the header is in redact.headers) or by its type, and
// its name kept: a map of an API needs the names. A Set-Cookie's
// attributes (Path, Expires, ...) are kept.
func (x *encoding) cookies(path, v string, set, byName bool) {
	var out []byte
	done := 0
	for pos := 0; pos < len(v); {
		end := strings.IndexByte(v[pos:], ';')
		if end < 0 {
			end = len(v)
		} else {
			end += pos
		}
		pair := v[pos:end]
		lead := len(pair) - len(strings.TrimLeft(pair, " "))
		name, value, ok := strings.Cut(pair[lead:], "=")
		if ok {
			at := path + "." + name
			mask := byName
			if x.cls != nil {
				x.cls.prefix = at
				if x.cls.at("").value(bytesOf(name), bytesOf(value)) {
					mask = true
				}
			}
			if mask {
				x.mark(at)
				valueStart := pos + lead + len(name) + 1
				out = append(out, v[done:valueStart]...)
				out = append(out, "[REDACTED]"...)
				done = end
			}
		}
		if set {
			// The attributes after the first pair are not cookies.
			break
		}
		pos = end + 1
	}
	if x.cls != nil {
		x.cls.masked = x.cls.masked[:0]
	}
	if out == nil {
		x.str(v)
		return
	}
	x.dst = appendString(x.dst, append(out, v[done:]...))
}
