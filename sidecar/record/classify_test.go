package record

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/schematest"
	"github.com/podtap/podtap/sidecar/message"
)

const (
	testJWT  = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	testCard = "4242424242424242"
	testKey  = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n"
)

type sensitiveRecord struct {
	Request struct {
		Query   string
		Headers map[string][]string
		Body    map[string]any
	}
	Response struct {
		Headers map[string][]string
		Body    any
	}
	GRPC struct {
		RequestMessages []map[string]any `json:"request_messages"`
	}
	Sensitive []message.Finding
	Redacted  []string
}

func encodeSensitive(t *testing.T, redact config.Redact, p *message.Pair) (sensitiveRecord, []byte) {
	t.Helper()
	enc := NewEncoder(config.Pod{}, redact, config.Classify{Enabled: true})
	out, err := enc.Append(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := schematest.Validate(out); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rec sensitiveRecord
	if err := json.Unmarshal(out, &rec); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return rec, out
}

func has(found []message.Finding, path, typ string) bool {
	return slices.Contains(found, message.Finding{Path: path, Type: typ})
}

func TestSensitiveEverywhere(t *testing.T) {
	keyJSON, _ := json.Marshal(testKey)
	p := samplePair()
	p.Request.Query = "token=abc&next=%2Fhome&auth=" + testJWT + "&ip=192.0.2.1"
	p.Request.Headers = message.Headers{
		{Name: "authorization", Value: "Bearer mF_9.B5f-4.1JqM"},
		{Name: "x-forwarded-for", Value: "198.51.100.23"},
		{Name: "x-session", Value: testJWT},
		{Name: "cookie", Value: "sid=s3cr3t; theme=dark"},
	}
	p.Request.ContentType = "application/json"
	p.Request.Body = []byte(`{"customer":{"email":"user@example.com","phone":"+44 20 7946 0958","dob":"1990-04-17","auth":"` + testJWT + `"},` +
		`"items":[{"email":"a@example.org","card":"` + testCard + `"},{"email":"b@example.org","card":"4242 4242 4242 4242"}],` +
		`"key":` + string(keyJSON) + `,"iban":"DE89370400440532013000","password":"` + testCard + `","sku":"SKU-4242"}`)
	p.Response.Headers = message.Headers{{Name: "set-cookie", Value: "sid=abc123; Path=/; HttpOnly"}}
	p.GRPC = &message.GRPC{Service: "shop.Pay", Method: "Charge", RequestJSON: [][]byte{[]byte(`{"card":{"number":"` + testCard + `"},"contact":"user@example.com","secret":"x"}`)}, ResponseJSON: [][]byte{}}
	rec, out := encodeSensitive(t, config.DefaultSidecar().Redact, p)

	if rec.Request.Query != "token=[REDACTED]&next=%2Fhome&auth=[REDACTED]&ip=192.0.2.1" {
		t.Errorf("query %q", rec.Request.Query)
	}
	h := rec.Request.Headers
	if h["authorization"][0] != "[REDACTED]" || h["x-session"][0] != "[REDACTED]" || h["x-forwarded-for"][0] != "198.51.100.23" || h["cookie"][0] != "sid=[REDACTED]; theme=[REDACTED]" {
		t.Errorf("headers %v", h)
	}
	if got := rec.Response.Headers["set-cookie"][0]; got != "sid=[REDACTED]; Path=/; HttpOnly" {
		t.Errorf("set-cookie %q", got)
	}
	body := rec.Request.Body
	cust := body["customer"].(map[string]any)
	if cust["email"] != "user@example.com" || cust["auth"] != "[REDACTED]" || body["key"] != "[REDACTED]" || body["password"] != "[REDACTED]" || body["iban"] != "DE89370400440532013000" || body["sku"] != "SKU-4242" {
		t.Errorf("body %v", body)
	}
	for _, it := range body["items"].([]any) {
		if it.(map[string]any)["card"] != "[REDACTED]" {
			t.Errorf("card kept: %v", it)
		}
	}
	if rec.GRPC.RequestMessages[0]["card"].(map[string]any)["number"] != "[REDACTED]" || rec.GRPC.RequestMessages[0]["secret"] != "[REDACTED]" {
		t.Errorf("grpc %v", rec.GRPC.RequestMessages)
	}
	for _, f := range [][2]string{
		{"request.query.auth", "jwt"}, {"request.query.ip", "ip"},
		{"request.headers.authorization", "bearer_token"}, {"request.headers.x-forwarded-for", "ip"}, {"request.headers.x-session", "jwt"},
		{"request.body.customer.email", "email"}, {"request.body.customer.phone", "phone"}, {"request.body.customer.dob", "date_of_birth"},
		{"request.body.customer.auth", "jwt"}, {"request.body.items[].email", "email"}, {"request.body.items[].card", "card"},
		{"request.body.key", "private_key"}, {"request.body.iban", "iban"}, {"request.body.password", "card"},
		{"grpc.request_messages[].card.number", "card"}, {"grpc.request_messages[].contact", "email"},
	} {
		if !has(rec.Sensitive, f[0], f[1]) {
			t.Errorf("missing %s %s in %s", f[0], f[1], out)
		}
	}
	// Two items' emails and cards collapse into one entry each.
	n := 0
	for _, f := range rec.Sensitive {
		if f.Path == "request.body.items[].email" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("items[].email listed %d times", n)
	}
	for _, want := range []string{"request.query.token", "request.query.auth", "request.headers.authorization", "request.headers.x-session",
		"request.headers.cookie.sid", "request.headers.cookie.theme", "response.headers.set-cookie.sid",
		"request.body.customer.auth", "request.body.items[].card", "request.body.key", "request.body.password", "grpc.request_messages[].card.number", "grpc.body.secret"} {
		if !slices.Contains(rec.Redacted, want) {
			t.Errorf("redacted lacks %s: %v", want, rec.Redacted)
		}
	}
	if !slices.Equal(p.Sensitive, rec.Sensitive) {
		t.Errorf("pair's findings %v differ from the record's", p.Sensitive)
	}
}

// TestRedactPersonal masks personal data with the "personal" group, and
// nothing by type with an empty list.
func TestRedactPersonal(t *testing.T) {
	p := samplePair()
	p.Request.ContentType = "application/x-www-form-urlencoded"
	p.Request.Body = []byte("email=user%40example.com&card=" + testCard + "&n=1")
	redact := config.DefaultSidecar().Redact
	redact.Types = append(redact.Types, config.TypeGroupPersonal)
	rec, _ := encodeSensitive(t, redact, p)
	if got := rec.Request.Body; got["email"].([]any)[0] != "[REDACTED]" || got["card"].([]any)[0] != "[REDACTED]" || got["n"].([]any)[0] != "1" {
		t.Errorf("form %v", got)
	}
	redact.Types = nil
	rec, _ = encodeSensitive(t, redact, p)
	if got := rec.Request.Body; got["email"].([]any)[0] != "user@example.com" || got["card"].([]any)[0] != testCard {
		t.Errorf("form masked with no types: %v", got)
	}
	if !has(rec.Sensitive, "request.body.email", "email") || !has(rec.Sensitive, "request.body.card", "card") {
		t.Errorf("sensitive %v", rec.Sensitive)
	}
}

// TestFalsePositiveCorpusScanned runs classify's corpus of ordinary API
// JSON through the body scanner: nothing may be tagged or changed.
func TestFalsePositiveCorpusScanned(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "classify", "testdata", "corpus", "*.json"))
	if len(files) == 0 {
		t.Fatal("no corpus")
	}
	for _, f := range files {
		doc, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cls := &classifier{mask: 1<<16 - 1, prefix: "request.body"}
		out, _, ok := appendClassifiedJSON(nil, doc, nil, cls)
		var want bytes.Buffer
		_ = json.Compact(&want, doc)
		if !ok || !bytes.Equal(out, want.Bytes()) || len(cls.found) > 0 {
			t.Errorf("%s: ok=%v found %v", f, ok, cls.found)
		}
	}
}

func TestSensitiveSchema(t *testing.T) {
	cfg := config.DefaultSidecar()
	p := samplePair()
	p.Response.Body = []byte(`[{"contact":"user@example.com"}]`)
	rec, _ := encodeSensitive(t, cfg.Redact, p)
	if !has(rec.Sensitive, "response.body[].contact", "email") {
		t.Errorf("top-level array: %v", rec.Sensitive)
	}
	// Invalid JSON is kept as a string, so nothing in it is listed.
	p.Response.Body = []byte(`{"contact":"user@example.com"`)
	rec, _ = encodeSensitive(t, cfg.Redact, p)
	if len(rec.Sensitive) != 0 || !strings.Contains(rec.Response.Body.(string), "user@example.com") {
		t.Errorf("invalid body: %v %v", rec.Sensitive, rec.Response.Body)
	}
}

// FuzzClassifiedJSON runs the classifier inside the scanner: with every
// type masked the output must stay valid JSON, equal to the unmasked one
// wherever nothing was found, and every finding's path must be a path of
// the document.
func FuzzClassifiedJSON(f *testing.F) {
	for _, s := range []string{`{"a":{"email":"user@example.com"}}`, `[{"c":"4242424242424242"}]`, `"192.0.2.1"`, `{"k":"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n"}`, `{"dob":"1990-04-17","x":[[ "a@b.co" ]]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		plain, _, ok := appendCompactJSON(nil, in, nil)
		cls := &classifier{mask: 1<<16 - 1, prefix: "b"}
		out, _, ok2 := appendClassifiedJSON(nil, in, newFieldSet([]string{"password"}), cls)
		if ok != ok2 {
			t.Fatalf("%q: ok %v, classified %v", in, ok, ok2)
		}
		if !ok {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("%q: invalid output %s", in, out)
		}
		if len(cls.found) == 0 && !bytes.Contains(in, []byte("password")) && !bytes.Equal(out, plain) {
			t.Fatalf("%q: changed without a finding: %s", in, out)
		}
		for _, fd := range cls.found {
			if !strings.HasPrefix(fd.Path, "b") || fd.Type == "" {
				t.Fatalf("%q: finding %v", in, fd)
			}
		}
	})
}

// BenchmarkClassifiedJSON measures the body scanner with and without
// classification on the bench's dense API JSON at the mixed capture's mean
// body size.
func BenchmarkClassifiedJSON(b *testing.B) {
	doc := orderJSON(4500, 12)
	redact := newFieldSet(config.DefaultSidecar().Redact.JSONFields)
	for _, on := range []bool{true, false} {
		name := "no-classify"
		if on {
			name = "classify"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			buf := make([]byte, 0, 8<<10)
			cls := &classifier{prefix: "response.body"}
			for b.Loop() {
				var c *classifier
				if on {
					c = cls
				}
				buf, _, _ = appendClassifiedJSON(buf[:0], doc, redact, c)
			}
		})
	}
}
