package record

import (
	"bytes"
	"net/url"

	"github.com/podtap/podtap/sidecar/classify"
)

// appendForm appends an application/x-www-form-urlencoded body as a JSON
// object of field -> list of values, fields in order of first appearance.
// Fields in redact are masked. ok is false when the body does not decode
// as a form; dst is then returned unchanged.
// Values not masked by name are classified by cls, when set, at
// cls.prefix + field name, and masked when their type is.
func appendForm(dst, body []byte, redact *fieldSet, cls *classifier) (out []byte, hits []string, ok bool) {
	type field struct {
		name   string
		values []string
	}
	var fields []field
	index := map[string]int{}
	for part := range bytes.SplitSeq(body, []byte{'&'}) {
		if len(part) == 0 {
			continue
		}
		k, v, _ := bytes.Cut(part, []byte{'='})
		name, err := url.QueryUnescape(string(k))
		if err != nil {
			return dst, nil, false
		}
		value, err := url.QueryUnescape(string(v))
		if err != nil {
			return dst, nil, false
		}
		i, seen := index[name]
		if !seen {
			i = len(fields)
			index[name] = i
			fields = append(fields, field{name: name})
		}
		fields[i].values = append(fields[i].values, value)
	}
	dst = append(dst, '{')
	for i, f := range fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, f.name)
		dst = append(dst, ':', '[')
		lower, masked := lookupField(redact, f.name)
		if masked {
			hits = append(hits, lower)
		}
		for j, v := range f.values {
			if j > 0 {
				dst = append(dst, ',')
			}
			if masked || (cls != nil && classifyField(cls, f.name, v)) {
				dst = append(dst, redactedValue...)
				continue
			}
			dst = appendString(dst, v)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}'), hits, true
}

// classifyField classifies the value v of the field name at cls.prefix +
// name and reports whether it is to be masked.
func classifyField(cls *classifier, name, v string) bool {
	t := classify.Value(bytesOf(name), bytesOf(v))
	return t != classify.None && cls.at(name).add(t)
}
