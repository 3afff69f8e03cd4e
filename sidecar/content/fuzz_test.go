package content

import (
	"errors"
	"testing"
)

// FuzzDecode checks that no input makes Decode panic, return more than the
// limit, or fail with an error outside its documented set.
func FuzzDecode(f *testing.F) {
	json := []byte(`{"a":[1,2,3],"b":"podtap"}`)
	f.Add("gzip", gz(f, json), 64)
	f.Add("deflate", zl(f, json), 64)
	f.Add("deflate", rawDeflate(f, json), 10)
	f.Add("br", br(f, json), 64)
	f.Add("zstd", zst(f, json), 64)
	f.Add("gzip, br", br(f, gz(f, json)), 64)
	f.Add("gzip", gz(f, make([]byte, 1<<16)), 1000)
	f.Add("identity", json, 5)
	f.Add("x-gzip", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, 100)
	f.Add("compress", json, 100)
	f.Fuzz(func(t *testing.T, enc string, body []byte, limit int) {
		limit %= 1 << 20
		got, err := Decode(enc, body, limit)
		if err != nil {
			if got != nil {
				t.Fatalf("Decode returned data with error %v", err)
			}
			if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownEncoding) {
				t.Fatalf("Decode returned an undocumented error: %v", err)
			}
			return
		}
		if len(got) > max(limit, 0) {
			t.Fatalf("Decode returned %d bytes, limit %d", len(got), limit)
		}
	})
}
