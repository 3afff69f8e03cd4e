package jsontext

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestAppendString(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		valid    bool
	}{
		{"plain", `"plain"`, true},
		{"", `""`, true},
		{"q\"b\\", `"q\"b\\"`, true},
		{"\b\f\n\r\t\x00\x1f", `"\b\f\n\r\t\u0000\u001f"`, true},
		{"<&>", `"<&>"`, true},
		{"é€😀", `"é€😀"`, true},
		{"a\xffb", `"a\ufffdb"`, false},
		{"\xc3", `"\ufffd"`, false},
	} {
		out, valid := AppendString([]byte("x"), tc.in)
		if string(out) != "x"+tc.want || valid != tc.valid {
			t.Errorf("%q: %s (valid %v), want %s (valid %v)", tc.in, out, valid, tc.want, tc.valid)
		}
		if b, _ := AppendString(nil, []byte(tc.in)); string(b) != tc.want {
			t.Errorf("%q as bytes: %s, want %s", tc.in, b, tc.want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add([]byte("plain"))
	f.Add([]byte("\x00\"\\\xff\xc3\b\f"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, valid := AppendString(nil, in)
		var s string
		if err := json.Unmarshal(out, &s); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s: %v", in, out, err)
		}
		// Each invalid byte becomes U+FFFD, as a []rune conversion does.
		if want := string([]rune(string(in))); s != want {
			t.Fatalf("round trip: %q -> %q, want %q", in, s, want)
		}
		if valid != utf8.Valid(in) {
			t.Fatalf("%q: valid %v", in, valid)
		}
	})
}

// BenchmarkAppendString appends the strings a record holds most: header
// names and values, a path, an ID.
func BenchmarkAppendString(b *testing.B) {
	strs := []string{"content-type", "application/json", "x-request-seq", "18342", "date",
		"Mon, 07 Dec 2026 07:52:41 GMT", "/api/items/63", "size=1853&chunked=1", "96ea963878d76b9f0000000000000001", "Go-http-client/1.1"}
	n := 0
	for _, s := range strs {
		n += len(s)
	}
	b.SetBytes(int64(n))
	dst := make([]byte, 0, 1024)
	for b.Loop() {
		dst = dst[:0]
		for _, s := range strs {
			dst, _ = AppendString(dst, s)
		}
	}
}
