package record

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/schematest"
	"github.com/podtap/podtap/sidecar/message"
)

func samplePair() *message.Pair {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
	return &message.Pair{
		ID:        "0123456789abcdef0123456789abcdef",
		Protocol:  message.ProtoHTTP11,
		Client:    message.Endpoint{IP: netip.MustParseAddr("10.0.0.9"), Port: 51234},
		Server:    message.Endpoint{IP: netip.MustParseAddr("::ffff:10.0.0.2"), Port: 8080},
		Direction: message.Inbound,
		Request: &message.Request{
			Proto: message.ProtoHTTP11, Method: "POST", Path: "/api/login", Query: "next=%2Fhome",
			Authority: "shop.local",
			Headers: message.Headers{
				{Name: "host", Value: "shop.local"},
				{Name: "authorization", Value: "Bearer abc"},
				{Name: "x-multi", Value: "1"},
				{Name: "x-multi", Value: "2"},
				{Name: "content-type", Value: "application/x-www-form-urlencoded"},
			},
			ContentType: "application/x-www-form-urlencoded",
			Body:        []byte("user=ada&password=s3cret&tag=a&tag=b%20c"),
			BodySize:    40,
			Start:       t0,
		},
		Response: &message.Response{
			Proto: message.ProtoHTTP11, Status: 200,
			Headers:     message.Headers{{Name: "content-type", Value: "application/json; charset=utf-8"}},
			ContentType: "application/json; charset=utf-8",
			Body:        []byte("{\n  \"user\": \"ada\",\n  \"Token\": {\"v\": [1, 2.5e3, true, null]},\n  \"note\": \"line\\nbreak \\u00e9\"\n}"),
			BodySize:    80,
			End:         t0.Add(1500 * time.Microsecond),
			Interim:     []int{100},
		},
	}
}

func TestEncodeMatchesSchema(t *testing.T) {
	enc := NewEncoder(config.Pod{Name: "shop-1", Namespace: "shop", IPs: []string{"10.0.0.2"}}, config.DefaultSidecar().Redact, config.DefaultSidecar().Classify)
	out, err := enc.Append(nil, samplePair())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsAny(out, "\n") {
		t.Fatalf("record spans lines: %s", out)
	}
	if err := schematest.Validate(out); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rec struct {
		Schema     string  `json:"schema"`
		StartedAt  string  `json:"started_at"`
		DurationMS float64 `json:"duration_ms"`
		Server     struct{ IP string }
		Pod        map[string]string
		Request    struct {
			Query   string
			Headers map[string][]string
			Body    map[string][]string
		}
		Response struct {
			Body            map[string]any
			InterimStatuses []int `json:"interim_statuses"`
		}
		Redacted []string
	}
	if err := json.Unmarshal(out, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Schema != "podtap.pair/v1" || rec.StartedAt != "2026-11-23T10:00:00.123456789Z" || rec.DurationMS != 1.5 {
		t.Errorf("envelope: %s", out)
	}
	if rec.Server.IP != "10.0.0.2" {
		t.Errorf("v4-mapped address not unmapped: %s", rec.Server.IP)
	}
	if rec.Pod["namespace"] != "shop" || rec.Pod["ip"] != "10.0.0.2" {
		t.Errorf("pod: %v", rec.Pod)
	}
	if got := rec.Request.Headers["x-multi"]; len(got) != 2 || got[1] != "2" {
		t.Errorf("repeated header: %v", got)
	}
	if got := rec.Request.Headers["authorization"]; len(got) != 1 || got[0] != "[REDACTED]" {
		t.Errorf("authorization not redacted: %v", got)
	}
	if got := rec.Request.Body["password"]; len(got) != 1 || got[0] != "[REDACTED]" {
		t.Errorf("form password not redacted: %v", got)
	}
	if got := rec.Request.Body["tag"]; len(got) != 2 || got[1] != "b c" {
		t.Errorf("form field: %v", got)
	}
	if rec.Response.Body["Token"] != "[REDACTED]" || rec.Response.Body["note"] != "line\nbreak é" {
		t.Errorf("json body: %v", rec.Response.Body)
	}
	want := "request.headers.authorization request.body.password response.body.token"
	if strings.Join(rec.Redacted, " ") != want {
		t.Errorf("redacted = %v, want %s", rec.Redacted, want)
	}
	if len(rec.Response.InterimStatuses) != 1 {
		t.Errorf("interim: %v", rec.Response.InterimStatuses)
	}
}

func TestEncodeBodies(t *testing.T) {
	enc := NewEncoder(config.Pod{}, config.Redact{}, config.Classify{})
	cases := []struct {
		name, ct string
		body     []byte
		wantBody string
		wantFlag string
	}{
		{"json", "application/json", []byte(` [ 1 , {"a" : "b"} ] `), `[1,{"a":"b"}]`, ""},
		{"json suffix", "application/problem+json", []byte(`{"title":"x"}`), `{"title":"x"}`, ""},
		{"invalid json", "application/json", []byte(`{"a":`), `"{\"a\":"`, "response_body_invalid_json"},
		{"trailing garbage", "application/json", []byte(`{} x`), `"{} x"`, "response_body_invalid_json"},
		{"text", "text/plain", []byte("héllo\x01"), `"héllo\u0001"`, ""},
		{"binary", "application/octet-stream", []byte{0xff, 0x00, 0xfe}, `"/wD+"`, "response_body_base64"},
		{"bad form", "application/x-www-form-urlencoded", []byte("a=%zz"), `"a=%zz"`, "response_body_invalid_form"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := samplePair()
			p.Response.ContentType = tc.ct
			p.Response.Body = tc.body
			out, err := enc.Append(nil, p)
			if err != nil {
				t.Fatal(err)
			}
			if err := schematest.Validate(out); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var rec struct {
				Response struct{ Body json.RawMessage }
				Flags    []string
			}
			if err := json.Unmarshal(out, &rec); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if string(rec.Response.Body) != tc.wantBody {
				t.Errorf("body %s, want %s", rec.Response.Body, tc.wantBody)
			}
			if got := strings.Join(rec.Flags, ","); got != tc.wantFlag {
				t.Errorf("flags %q, want %q", got, tc.wantFlag)
			}
		})
	}
}

func TestEncodeGRPC(t *testing.T) {
	enc := NewEncoder(config.Pod{}, config.Redact{JSONFields: []string{"secret"}}, config.Classify{})
	p := samplePair()
	p.Protocol = message.ProtoGRPC
	p.Request.Body, p.Response.Body = nil, nil
	p.GRPC = &message.GRPC{
		Service: "shop.Orders", Method: "Get", HasStatus: true, StatusCode: 5, StatusMessage: "not found",
		RequestMessages:  [][]byte{{0x08, 0x01}},
		RequestJSON:      [][]byte{[]byte(`{"id":"1","secret":"x"}`)},
		ResponseMessages: [][]byte{{0x0a, 0x00}},
	}
	out, err := enc.Append(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := schematest.Validate(out); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{`"request_messages":[{"id":"1","secret":"[REDACTED]"}]`, `"response_messages":[{"undecoded_base64":"CgA="}]`, `"status_code":5`, `"grpc.body.secret"`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("missing %s in %s", want, out)
		}
	}
}

func TestCompactJSONAgreesWithEncodingJSON(t *testing.T) {
	inputs := []string{`{}`, `[]`, `0`, `-0.5e-3`, `"\ud83d\ude00"`, `{"a":[1,2,{"b":null}]}`, `01`, `1.`, `.5`, `[1,]`, `{"a" 1}`, `"\x"`, "\"a\x7fb\"", "\"\xff\"", `tru`, `nul`, `{"a":1}}`, `[[[[]]]]`}
	for _, in := range inputs {
		out, _, ok := appendCompactJSON(nil, []byte(in), nil)
		if ok != json.Valid([]byte(in)) {
			t.Errorf("%q: valid=%v, encoding/json says %v", in, ok, json.Valid([]byte(in)))
		}
		if ok {
			var want bytes.Buffer
			_ = json.Compact(&want, []byte(in))
			if string(out) != string([]rune(want.String())) {
				t.Errorf("%q: compact %s, want %s", in, out, want.String())
			}
		}
	}
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	if _, _, ok := appendCompactJSON(nil, []byte(deep), nil); ok {
		t.Error("nesting past the depth bound accepted")
	}
}

func FuzzCompactJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2]}`, `"x\n"`, `-1.5e9`, `{"password":{"x":1}}`, `[`, "\"\xff\""} {
		f.Add([]byte(s))
	}
	redact := newFieldSet([]string{"password"})
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _, ok := appendCompactJSON(nil, in, nil)
		valid := json.Valid(in)
		if ok != valid && !(valid && !ok && bytes.Count(in, []byte("[")) > maxJSONDepth) {
			t.Fatalf("%q: ok=%v valid=%v", in, ok, valid)
		}
		if ok {
			var want bytes.Buffer
			_ = json.Compact(&want, in)
			if !utf8.Valid(out) || !bytes.Equal(out, []byte(string([]rune(want.String())))) {
				t.Fatalf("%q: got %s want %s", in, out, want.Bytes())
			}
			red, _, ok2 := appendCompactJSON(nil, in, redact)
			if !ok2 || !json.Valid(red) {
				t.Fatalf("redacted output invalid: %s", red)
			}
		}
	})
}

// benchEncoders are the default encoder and the same without
// classification, so that a benchmark gives what classification costs.
func benchEncoders(b *testing.B, run func(b *testing.B, enc *Encoder)) {
	cfg := config.DefaultSidecar()
	b.Run("classify", func(b *testing.B) {
		run(b, NewEncoder(config.Pod{Name: "p", Namespace: "n"}, cfg.Redact, cfg.Classify))
	})
	b.Run("no-classify", func(b *testing.B) {
		run(b, NewEncoder(config.Pod{Name: "p", Namespace: "n"}, config.Redact{Headers: cfg.Redact.Headers, JSONFields: cfg.Redact.JSONFields}, config.Classify{}))
	})
}

func BenchmarkEncode(b *testing.B) { benchEncoders(b, benchEncode) }

func benchEncode(b *testing.B, enc *Encoder) {
	p := samplePair()
	p.Response.Body = bytes.Repeat([]byte(`{"id": 12345, "name": "widget", "tags": ["a", "b"], "price": 12.5},`), 64)
	p.Response.Body = append(append([]byte("["), p.Response.Body[:len(p.Response.Body)-1]...), ']')
	b.SetBytes(int64(len(p.Response.Body)))
	b.ReportAllocs()
	buf := make([]byte, 0, 16<<10)
	for b.Loop() {
		var err error
		if buf, err = enc.Append(buf[:0], p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeCompact encodes a pair whose body is already compact, as
// the bodies of most JSON APIs are: the scanner's fast path.
func BenchmarkEncodeCompact(b *testing.B) { benchEncoders(b, benchEncodeCompact) }

func benchEncodeCompact(b *testing.B, enc *Encoder) {
	p := samplePair()
	item := `{"sku":"sku-123456","name":"widget \u00e9","qty":12,"price":1234.5,"tags":["fast","fragile"],"ok":true,"ref":null},`
	p.Response.Body = []byte(`{"id":12345,"customer":"customer-1","items":[` + strings.Repeat(item, 64))
	p.Response.Body = append(p.Response.Body[:len(p.Response.Body)-1], `],"note":"lorem ipsum"}`...)
	b.SetBytes(int64(len(p.Response.Body)))
	b.ReportAllocs()
	buf := make([]byte, 0, 16<<10)
	for b.Loop() {
		var err error
		if buf, err = enc.Append(buf[:0], p); err != nil {
			b.Fatal(err)
		}
	}
}
