// Package record encodes a pair as the podtap.pair/v1 record
// (schema/pair.schema.json), masking sensitive values on the way. Encoding
// appends to a caller's buffer and allocates little, since it runs once per
// pair on the capture workers.
package record

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/jsontext"
	"github.com/podtap/podtap/sidecar/classify"
	"github.com/podtap/podtap/sidecar/message"
)

// Schema is the value of every record's "schema" field.
const Schema = "podtap.pair/v1"

// Encoder turns pairs into records.
type Encoder struct {
	pod           config.Pod
	hasPod        bool
	redactHeaders map[string]bool
	redactFields  *fieldSet
	classify      bool
	redactTypes   classify.Set
	// classifiers are reused across records, with their buffers, since
	// a record would otherwise allocate one and grow its buffers afresh.
	classifiers sync.Pool
}

// NewEncoder prepares an encoder for one pod's records.
func NewEncoder(pod config.Pod, redact config.Redact, cls config.Classify) *Encoder {
	e := &Encoder{
		pod:           pod,
		hasPod:        pod.Name != "" || pod.Namespace != "" || pod.UID != "" || pod.Node != "" || len(pod.IPs) > 0 || pod.Workload != "",
		redactHeaders: map[string]bool{},
		redactFields:  newFieldSet(redact.JSONFields),
		classify:      cls.Enabled,
		redactTypes:   classify.SetOf(redact.RedactTypes()),
	}
	for _, h := range redact.Headers {
		e.redactHeaders[strings.ToLower(h)] = true
	}
	return e
}

// encoding carries one record's state through the append calls.
type encoding struct {
	e        *Encoder
	dst      []byte
	redacted []string
	flags    []string
	// cls classifies the record's values; nil when classification is off.
	cls *classifier
}

// Append appends the record of p to dst, without a trailing newline.
func (e *Encoder) Append(dst []byte, p *message.Pair) ([]byte, error) {
	if p.Request == nil || p.Response == nil {
		return dst, fmt.Errorf("record: pair %s lacks a half", p.ID)
	}
	x := encoding{e: e, dst: dst, flags: append([]string(nil), p.Flags...)}
	if e.classify {
		x.cls = e.classifier()
		defer e.release(x.cls)
	}
	x.flags = append(x.flags, p.Request.Flags...)
	x.flags = append(x.flags, p.Response.Flags...)
	x.raw(`{"schema":"` + Schema + `","id":`)
	x.str(p.ID)
	x.raw(`,"protocol":`)
	x.str(p.Protocol)
	start, end := p.Request.Start, p.Response.End
	x.raw(`,"started_at":`)
	x.time(start)
	x.raw(`,"ended_at":`)
	x.time(end)
	x.raw(`,"duration_ms":`)
	ms := float64(end.Sub(start)) / float64(time.Millisecond)
	if ms < 0 {
		ms = 0
	}
	x.dst = strconv.AppendFloat(x.dst, ms, 'f', -1, 64)
	x.raw(`,"client":`)
	x.endpoint(p.Client)
	x.raw(`,"server":`)
	x.endpoint(p.Server)
	x.raw(`,"direction":`)
	x.str(p.Direction)
	if p.Tunnel.VXLAN {
		x.raw(`,"vni":`)
		x.int(int64(p.Tunnel.VNI))
	}
	if p.Pod != nil {
		x.pod(p.Pod.Name, p.Pod.Namespace, "", "", p.Pod.IP, p.Pod.Workload)
	} else if e.hasPod {
		x.ownPod()
	}
	if p.TLSLibrary != "" {
		x.raw(`,"tls":{"library":`)
		x.str(p.TLSLibrary)
		x.raw("}")
	}
	x.request(p.Request)
	x.response(p.Response)
	if p.GRPC != nil {
		x.grpc(p.GRPC)
	}
	x.redacted = append(x.redacted, p.Redacted...)
	if x.cls != nil {
		p.Sensitive = nil
		if len(x.cls.found) > 0 {
			// The findings go with the pair, so the classifier, going
			// back to the pool, starts a new list.
			p.Sensitive = x.cls.found
			x.cls.found = nil
			x.sensitive(p.Sensitive)
		}
	}
	x.list(`,"redacted":`, x.redacted)
	x.list(`,"flags":`, x.flags)
	x.raw("}")
	return x.dst, nil
}

// classifier returns an empty classifier, from the pool when it has one.
func (e *Encoder) classifier() *classifier {
	if c, _ := e.classifiers.Get().(*classifier); c != nil {
		return c
	}
	return &classifier{mask: e.redactTypes}
}

// release empties c, so that the pool holds no record's bytes, and
// returns it to the pool.
func (e *Encoder) release(c *classifier) {
	c.reset()
	e.classifiers.Put(c)
}

// appendString appends s as a JSON string, invalid UTF-8 as U+FFFD, so
// that every record is valid JSON whatever the captured bytes were.
func appendString[T string | []byte](dst []byte, s T) []byte {
	out, _ := jsontext.AppendString(dst, s)
	return out
}

func (x *encoding) raw(s string) { x.dst = append(x.dst, s...) }
func (x *encoding) str(s string) { x.dst = appendString(x.dst, s) }
func (x *encoding) int(n int64)  { x.dst = strconv.AppendInt(x.dst, n, 10) }
func (x *encoding) time(t time.Time) {
	x.dst = append(x.dst, '"')
	x.dst = t.UTC().AppendFormat(x.dst, time.RFC3339Nano)
	x.dst = append(x.dst, '"')
}

func (x *encoding) endpoint(ep message.Endpoint) {
	x.raw(`{"ip":`)
	if ip := ep.IP.Unmap(); ip.IsValid() {
		// An address's text never needs escaping.
		x.raw(`"`)
		x.dst = ip.AppendTo(x.dst)
		x.raw(`"`)
	} else {
		x.str(ip.String())
	}
	x.raw(`,"port":`)
	x.int(int64(ep.Port))
	x.raw("}")
}

func (x *encoding) sensitive(found []message.Finding) {
	if len(found) == 0 {
		return
	}
	x.raw(`,"sensitive":[`)
	for i, f := range found {
		if i > 0 {
			x.raw(",")
		}
		x.raw(`{"path":`)
		x.str(f.Path)
		x.raw(`,"type":`)
		x.str(f.Type)
		x.raw("}")
	}
	x.raw("]")
}

// mark adds path to redacted, once.
func (x *encoding) mark(path string) {
	for _, r := range x.redacted {
		if r == path {
			return
		}
	}
	x.redacted = append(x.redacted, path)
}

// takeMasked moves the classifier's masked paths to redacted.
func (x *encoding) takeMasked() {
	if x.cls == nil {
		return
	}
	for _, p := range x.cls.masked {
		x.mark(p)
	}
	x.cls.masked = x.cls.masked[:0]
}

func (x *encoding) list(key string, items []string) {
	if len(items) == 0 {
		return
	}
	x.raw(key)
	x.raw("[")
	for i, s := range items {
		if i > 0 {
			x.raw(",")
		}
		x.str(s)
	}
	x.raw("]")
}

// ownPod writes the capturing pod's own fields.
func (x *encoding) ownPod() {
	pod := x.e.pod
	var ip string
	if len(pod.IPs) > 0 {
		ip = pod.IPs[0]
	}
	x.pod(pod.Name, pod.Namespace, pod.UID, pod.Node, ip, pod.Workload)
}

func (x *encoding) pod(name, namespace, uid, node, ip, workload string) {
	x.raw(`,"pod":{`)
	first := true
	field := func(key, v string) {
		if v == "" {
			return
		}
		if !first {
			x.raw(",")
		}
		first = false
		x.str(key)
		x.raw(":")
		x.str(v)
	}
	field("name", name)
	field("namespace", namespace)
	field("uid", uid)
	field("node", node)
	field("ip", ip)
	field("workload", workload)
	x.raw("}")
}

func (x *encoding) request(r *message.Request) {
	x.raw(`,"request":{`)
	sep := ""
	opt := func(key, v string) {
		if v == "" {
			return
		}
		x.raw(sep)
		sep = ","
		x.str(key)
		x.raw(":")
		x.str(v)
	}
	opt("method", r.Method)
	opt("path", r.Path)
	opt("query", x.query(r.Query))
	opt("authority", r.Authority)
	x.raw(sep)
	x.message("request", r.Headers, r.Trailers, r.ContentType, r.Body, r.BodySize, r.Truncated)
	x.raw("}")
}

// message writes the fields a request and a response share, from
// "headers" on; half is "request" or "response".
func (x *encoding) message(half string, headers, trailers message.Headers, contentType string, body []byte, bodySize int64, truncated bool) {
	hp, tp := blockPaths(half)
	x.raw(`"headers":`)
	x.headers(hp, headers)
	if len(trailers) > 0 {
		x.raw(`,"trailers":`)
		x.headers(tp, trailers)
	}
	if contentType != "" {
		x.raw(`,"content_type":`)
		x.str(contentType)
	}
	x.body(half, contentType, body)
	x.raw(`,"body_size":`)
	x.int(bodySize)
	if truncated {
		x.raw(`,"truncated":true`)
	}
}

// blockPaths are the record paths of half's headers and trailers, spelled
// out: concatenating them for every pair cost an allocation each.
func blockPaths(half string) (headers, trailers string) {
	if half == "request" {
		return "request.headers.", "request.trailers."
	}
	return "response.headers.", "response.trailers."
}

func (x *encoding) response(r *message.Response) {
	x.raw(`,"response":{"status":`)
	x.int(int64(r.Status))
	x.raw(",")
	x.message("response", r.Headers, r.Trailers, r.ContentType, r.Body, r.BodySize, r.Truncated)
	if len(r.Interim) > 0 {
		x.raw(`,"interim_statuses":[`)
		for i, s := range r.Interim {
			if i > 0 {
				x.raw(",")
			}
			x.int(int64(s))
		}
		x.raw("]")
	}
	x.raw("}")
}

// headers writes a header block as name -> values in wire order, names in
// order of first appearance, masking the configured names.
func (x *encoding) headers(path string, h message.Headers) {
	x.raw("{")
	for i, f := range h {
		if firstIndex(h, f.Name) != i {
			continue
		}
		if i > 0 {
			x.raw(",")
		}
		x.str(f.Name)
		x.raw(":[")
		masked := x.e.redactHeaders[f.Name]
		cookies := f.Name == "cookie" || f.Name == "set-cookie"
		if masked && !cookies {
			x.mark(path + f.Name)
		}
		n := 0
		for _, g := range h[i:] {
			if g.Name != f.Name {
				continue
			}
			if n > 0 {
				x.raw(",")
			}
			n++
			switch {
			case cookies:
				x.cookies(path+f.Name, g.Value, f.Name == "set-cookie", masked)
			case x.classifyHeader(path, f.Name, g.Value) && !masked:
				x.raw(redactedValue)
				x.takeMasked()
			case masked:
				x.raw(redactedValue)
			default:
				x.str(g.Value)
			}
		}
		x.raw("]")
	}
	x.raw("}")
}

func firstIndex(h message.Headers, name string) int {
	for i, f := range h {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// body writes a body by its media type: JSON as its value, a form as an
// object, text as a string, anything else as base64. A body that does not
// parse as its declared type is kept as a string and flagged.
func (x *encoding) body(half, contentType string, b []byte) {
	if len(b) == 0 {
		return
	}
	x.raw(`,"body":`)
	mt := message.MediaType(contentType)
	var hits []string
	var ok bool
	switch {
	case isJSON(mt):
		found := x.classifyAt(bodyPath(half, false))
		if x.dst, hits, ok = appendClassifiedJSON(x.dst, b, x.e.redactFields, x.cls); ok {
			x.hits(half, hits)
			x.takeMasked()
			return
		}
		x.forget(found)
		x.flags = append(x.flags, half+"_"+message.FlagBodyInvalidJSON)
	case mt == "application/x-www-form-urlencoded":
		found := x.classifyAt(bodyPath(half, true))
		if x.dst, hits, ok = appendForm(x.dst, b, x.e.redactFields, x.cls); ok {
			x.hits(half, hits)
			x.takeMasked()
			return
		}
		x.forget(found)
		x.flags = append(x.flags, half+"_"+message.FlagBodyInvalidForm)
	}
	if utf8.Valid(b) {
		x.dst = appendString(x.dst, b)
		return
	}
	x.flags = append(x.flags, half+"_"+message.FlagBodyBase64)
	x.dst = append(x.dst, '"')
	x.dst = base64.StdEncoding.AppendEncode(x.dst, b)
	x.dst = append(x.dst, '"')
}

// bodyPath is the path of a half's body, with the dot that starts a form
// field's name after it when field is set; constants, so that no record
// builds them.
func bodyPath(half string, field bool) string {
	switch {
	case half == "request" && field:
		return "request.body."
	case half == "request":
		return "request.body"
	case field:
		return "response.body."
	}
	return "response.body"
}

// classifyAt points the classifier at the values under prefix and returns
// how many findings it held before, for forget.
func (x *encoding) classifyAt(prefix string) int {
	if x.cls == nil {
		return 0
	}
	x.cls.prefix = prefix
	return len(x.cls.found)
}

// forget drops what the classifier found in a value that turned out not
// to parse, since the record keeps that value as a plain string.
func (x *encoding) forget(n int) {
	if x.cls != nil {
		x.cls.found = x.cls.found[:n]
		x.cls.masked = x.cls.masked[:0]
	}
}

func (x *encoding) hits(half string, keys []string) {
	for _, k := range keys {
		path := half + ".body." + k
		dup := false
		for _, r := range x.redacted {
			if r == path {
				dup = true
				break
			}
		}
		if !dup {
			x.redacted = append(x.redacted, path)
		}
	}
}

func (x *encoding) grpc(g *message.GRPC) {
	x.raw(`,"grpc":{"service":`)
	x.str(g.Service)
	x.raw(`,"method":`)
	x.str(g.Method)
	if g.HasStatus {
		x.raw(`,"status_code":`)
		x.int(int64(g.StatusCode))
		if g.StatusMessage != "" {
			x.raw(`,"status_message":`)
			x.str(g.StatusMessage)
		}
	}
	x.raw(`,"request_messages":`)
	x.messages("grpc.request_messages[]", g.RequestJSON, g.RequestMessages)
	x.raw(`,"response_messages":`)
	x.messages("grpc.response_messages[]", g.ResponseJSON, g.ResponseMessages)
	x.raw("}")
}

// messages writes decoded messages as JSON objects; without a schema each
// raw message becomes {"undecoded_base64": "..."} so items stay objects as
// the schema requires.
func (x *encoding) messages(path string, decoded, raw [][]byte) {
	x.raw("[")
	if decoded != nil {
		for i, m := range decoded {
			if i > 0 {
				x.raw(",")
			}
			var hits []string
			var ok bool
			found := x.classifyAt(path)
			if x.dst, hits, ok = appendClassifiedJSON(x.dst, m, x.e.redactFields, x.cls); !ok {
				x.forget(found)
				x.raw("{}")
			}
			x.hits("grpc", hits)
			x.takeMasked()
		}
	} else {
		for i, m := range raw {
			if i > 0 {
				x.raw(",")
			}
			x.raw(`{"undecoded_base64":"`)
			x.dst = base64.StdEncoding.AppendEncode(x.dst, m)
			x.raw(`"}`)
		}
	}
	x.raw("]")
}

func isJSON(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
