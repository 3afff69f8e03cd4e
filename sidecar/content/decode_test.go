package content

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// encode compresses b with the writer newWriter makes.
func encode(t testing.TB, b []byte, newWriter func(io.Writer) (io.WriteCloser, error)) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := newWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	return encode(t, b, func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriter(w), nil })
}

func zl(t testing.TB, b []byte) []byte {
	t.Helper()
	return encode(t, b, func(w io.Writer) (io.WriteCloser, error) { return zlib.NewWriter(w), nil })
}

func rawDeflate(t testing.TB, b []byte) []byte {
	t.Helper()
	return encode(t, b, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestCompression) })
}

func br(t testing.TB, b []byte) []byte {
	t.Helper()
	return encode(t, b, func(w io.Writer) (io.WriteCloser, error) { return brotli.NewWriter(w), nil })
}

func zst(t testing.TB, b []byte) []byte {
	t.Helper()
	return encode(t, b, func(w io.Writer) (io.WriteCloser, error) { return zstd.NewWriter(w) })
}

func TestDecode(t *testing.T) {
	json := []byte(`{"items":[` + strings.Repeat(`{"id":1,"name":"podtap"},`, 200) + `{}]}`)
	gzJSON := gz(t, json)
	bomb := gz(t, make([]byte, 8<<20))
	tests := []struct {
		name     string
		encoding string
		body     []byte
		limit    int
		want     []byte
		err      error
	}{
		{"no coding", "", json, 1 << 20, json, nil},
		{"identity", "identity", json, 1 << 20, json, nil},
		{"identity over limit", "identity", json, 100, nil, ErrTooLarge},
		{"gzip", "gzip", gzJSON, 1 << 20, json, nil},
		{"x-gzip", "x-gzip", gzJSON, 1 << 20, json, nil},
		{"case and spaces", "  GZip ", gzJSON, 1 << 20, json, nil},
		{"gzip exactly at limit", "gzip", gzJSON, len(json), json, nil},
		{"gzip one byte over limit", "gzip", gzJSON, len(json) - 1, nil, ErrTooLarge},
		{"gzip bomb", "gzip", bomb, 1 << 20, nil, ErrTooLarge},
		{"gzip two members", "gzip", append(gz(t, []byte("hello ")), gz(t, []byte("world"))...), 100, []byte("hello world"), nil},
		{"gzip trailing padding", "gzip", append(gz(t, []byte("hello")), 0, 0, 0, 0), 100, []byte("hello"), nil},
		{"gzip truncated", "gzip", gzJSON[:len(gzJSON)/2], 1 << 20, nil, ErrCorrupt},
		{"gzip not gzip", "gzip", json, 1 << 20, nil, ErrCorrupt},
		{"gzip empty body", "gzip", nil, 100, nil, nil},
		{"deflate zlib", "deflate", zl(t, json), 1 << 20, json, nil},
		{"deflate raw", "deflate", rawDeflate(t, json), 1 << 20, json, nil},
		{"deflate raw short", "deflate", rawDeflate(t, []byte("a")), 100, []byte("a"), nil},
		{"deflate over limit", "deflate", zl(t, json), 10, nil, ErrTooLarge},
		{"br", "br", br(t, json), 1 << 20, json, nil},
		{"br over limit", "br", br(t, json), 1000, nil, ErrTooLarge},
		{"br corrupt", "br", []byte("definitely not brotli"), 1 << 20, nil, ErrCorrupt},
		{"zstd", "zstd", zst(t, json), 1 << 20, json, nil},
		{"zstd over limit", "zstd", zst(t, json), 1000, nil, ErrTooLarge},
		{"chain gzip then br", "gzip, br", br(t, gzJSON), 1 << 20, json, nil},
		{"chain with identity", "identity,gzip", gzJSON, 1 << 20, json, nil},
		{"chain deflate gzip", "deflate,gzip", gz(t, zl(t, json)), 1 << 20, json, nil},
		{"chain intermediate over limit", "gzip, gzip", gz(t, gz(t, make([]byte, 4096))), 1000, nil, ErrTooLarge},
		{"unknown", "compress", json, 1 << 20, nil, ErrUnknownEncoding},
		{"unknown in chain", "gzip, snappy", gzJSON, 1 << 20, nil, ErrUnknownEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.encoding, tt.body, tt.limit)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Decode error = %v, want %v", err, tt.err)
				}
				if got != nil {
					t.Fatalf("Decode returned %d bytes with an error", len(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("Decode = %q, want %q", trunc(got), trunc(tt.want))
			}
			if len(got) > tt.limit {
				t.Fatalf("Decode returned %d bytes over the limit %d", len(got), tt.limit)
			}
		})
	}
}

func trunc(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// TestDecodePoolReuse decodes many bodies of each coding in turn, so that
// pooled readers are reset between different streams and must not leak
// state from one body into the next.
func TestDecodePoolReuse(t *testing.T) {
	for i := range 50 {
		body := bytes.Repeat([]byte{byte('a' + i%26)}, 100+i*37)
		for _, c := range []struct {
			enc  string
			data []byte
		}{
			{"gzip", gz(t, body)}, {"deflate", zl(t, body)}, {"deflate", rawDeflate(t, body)},
			{"br", br(t, body)}, {"zstd", zst(t, body)},
		} {
			got, err := Decode(c.enc, c.data, 1<<20)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("round %d %s: got %d bytes, err %v; want %d bytes", i, c.enc, len(got), err, len(body))
			}
		}
		if _, err := Decode("gzip", []byte("garbage garbage"), 100); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("round %d: corrupt gzip error = %v", i, err)
		}
	}
}

func TestKnownAndIdentity(t *testing.T) {
	tests := []struct {
		enc             string
		known, identity bool
	}{
		{"", true, true},
		{"identity", true, true},
		{" Identity , ", true, true},
		{"gzip", true, false},
		{"gzip, br", true, false},
		{"x-gzip,deflate,zstd", true, false},
		{"compress", false, false},
		{"gzip, lz4", false, false},
	}
	for _, tt := range tests {
		if got := Known(tt.enc); got != tt.known {
			t.Errorf("Known(%q) = %v, want %v", tt.enc, got, tt.known)
		}
		if got := Identity(tt.enc); got != tt.identity {
			t.Errorf("Identity(%q) = %v, want %v", tt.enc, got, tt.identity)
		}
	}
}

func BenchmarkDecodeGzipJSON(b *testing.B) {
	json := []byte(`{"items":[` + strings.Repeat(`{"id":1,"name":"podtap"},`, 40) + `{}]}`)
	data := gz(b, json)
	b.SetBytes(int64(len(json)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode("gzip", data, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}
