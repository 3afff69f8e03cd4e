package record

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/payload"
)

// orderJSON is a compact JSON document of size bytes shaped like a
// typical API body, the bench's payload.
func orderJSON(size int, seed uint64) []byte { return payload.Order(nil, size, seed) }

// TestBenchmarkBodies checks that the benchmarks' bodies are valid and
// compact, so that the benchmarks time the path they claim to.
func TestBenchmarkBodies(t *testing.T) {
	for _, size := range []int{100, 4500, 64 << 10} {
		if doc := orderJSON(size, 12); len(doc) != size {
			t.Fatalf("orderJSON(%d): %d bytes", size, len(doc))
		}
	}
	for _, doc := range [][]byte{orderJSON(100, 1), orderJSON(4500, 12), orderJSON(64<<10, 12), textJSON(16 << 10)} {
		if !json.Valid(doc) {
			t.Fatalf("invalid: %.100s", doc)
		}
		out, hits, ok := appendCompactJSON(nil, doc, newFieldSet(config.DefaultSidecar().Redact.JSONFields))
		if !ok || string(out) != string(doc) || len(hits) != 0 {
			t.Fatalf("not copied as is: ok=%v hits=%v: %.100s", ok, hits, doc)
		}
	}
}

// textJSON returns a document of about size bytes whose bulk is long
// strings, the other shape a body takes (descriptions, encoded blobs).
func textJSON(size int) []byte {
	text := strings.Repeat("lorem ipsum dolor sit amet, ", 1024/28)
	dst := []byte(`{"posts":[`)
	for len(dst)+len(text)+len(`{"title":"post","body":""}]}`) < size {
		dst = append(dst, `{"title":"post","body":"`...)
		dst = append(append(dst, text...), `"},`...)
	}
	return append(dst[:len(dst)-1], "]}"...)
}

func TestCompactJSONRedacts(t *testing.T) {
	redact := newFieldSet(config.DefaultSidecar().Redact.JSONFields)
	cases := []struct {
		in, want string
		hits     []string
	}{
		{`{"Token":"abc","price":1.5}`, `{"Token":"[REDACTED]","price":1.5}`, []string{"token"}},
		{
			`{"a":{"password":{"secret":[1,{"token":2}]},"b":1},"access_token" : null}`,
			`{"a":{"password":"[REDACTED]","b":1},"access_token":"[REDACTED]"}`,
			[]string{"token", "secret", "password", "access_token"},
		},
		{`[{"secret": "x"}, {"SECRET":[]}, {"secret":{}}]`, `[{"secret":"[REDACTED]"},{"SECRET":"[REDACTED]"},{"secret":"[REDACTED]"}]`, []string{"secret", "secret", "secret"}},
		{`{"tok\u0065n":1,"tokens":2,"":3}`, `{"tok\u0065n":1,"tokens":2,"":3}`, nil},
		{`{"client_secret":"a\"b","x":[{"refresh_token":-1e3}]}`, `{"client_secret":"[REDACTED]","x":[{"refresh_token":"[REDACTED]"}]}`, []string{"client_secret", "refresh_token"}},
	}
	for _, tc := range cases {
		out, hits, ok := appendCompactJSON([]byte("x"), []byte(tc.in), redact)
		if !ok || string(out) != "x"+tc.want || !slices.Equal(hits, tc.hits) {
			t.Errorf("%s: ok=%v %s %q, want %s %q", tc.in, ok, out, hits, tc.want, tc.hits)
		}
	}
}

// BenchmarkCompactJSON measures the body scanner alone, with the default
// redaction names, on dense API JSON at the mean body size of the mixed
// capture and at the 64 KiB cap, and on a body of long strings.
func BenchmarkCompactJSON(b *testing.B) {
	redact := newFieldSet(config.DefaultSidecar().Redact.JSONFields)
	for _, bc := range []struct {
		name string
		doc  []byte
	}{{"4.5KB", orderJSON(4500, 12)}, {"64KB", orderJSON(64<<10, 12)}, {"text", textJSON(16 << 10)}} {
		b.Run(bc.name, func(b *testing.B) {
			doc := bc.doc
			dst := make([]byte, 0, len(doc))
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				var ok bool
				if dst, _, ok = appendCompactJSON(dst[:0], doc, redact); !ok {
					b.Fatal("rejected")
				}
			}
		})
	}
}
