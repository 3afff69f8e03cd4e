package grpcwire

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

func frame(flag byte, msg []byte) []byte {
	out := make([]byte, 5, 5+len(msg))
	out[0] = flag
	binary.BigEndian.PutUint32(out[1:], uint32(len(msg)))
	return append(out, msg...)
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestUnframe(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 4000)
	cases := []struct {
		name     string
		body     []byte
		encoding string
		limit    int
		want     []string
		err      error
	}{
		{"empty", nil, "", 100, []string{}, nil},
		{"one", frame(0, []byte("abc")), "", 100, []string{"abc"}, nil},
		{"empty message", frame(0, nil), "", 100, []string{""}, nil},
		{"several", bytes.Join([][]byte{frame(0, []byte("a")), frame(0, []byte("bb")), frame(0, nil)}, nil), "", 100, []string{"a", "bb", ""}, nil},
		{"gzip", bytes.Join([][]byte{frame(1, gz(t, []byte("zipped"))), frame(0, []byte("plain"))}, nil), "gzip", 100, []string{"zipped", "plain"}, nil},
		{"gzip header case", frame(1, gz(t, []byte("zipped"))), " GZIP", 100, []string{"zipped"}, nil},
		{"unknown encoding", frame(1, []byte("??")), "snappy", 100, []string{}, ErrEncoding},
		{"unknown encoding unused", frame(0, []byte("ok")), "snappy", 100, []string{"ok"}, nil},
		{"compressed without encoding", frame(1, []byte("??")), "", 100, []string{}, ErrMalformed},
		{"bad flag", frame(2, []byte("??")), "", 100, []string{}, ErrMalformed},
		{"corrupt gzip", frame(1, []byte("not gzip")), "gzip", 100, []string{}, ErrMalformed},
		{"truncated prefix", append(frame(0, []byte("a")), 0, 0), "", 100, []string{"a"}, ErrTruncated},
		{"truncated message", append(frame(0, []byte("a")), 0, 0, 0, 0, 9, 'x'), "", 100, []string{"a"}, ErrTruncated},
		{"at the limit", frame(0, big), "", len(big), []string{string(big)}, nil},
		{"over the limit", bytes.Join([][]byte{frame(0, big), frame(0, []byte("y"))}, nil), "", len(big), []string{string(big)}, ErrTooLarge},
		{"decompressed over the limit", frame(1, gz(t, big)), "gzip", len(big) - 1, []string{}, ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := Unframe(nil, tc.body, tc.encoding, tc.limit)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			got := []string{}
			for _, m := range msgs {
				got = append(got, string(m))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("messages %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUnframeAliases(t *testing.T) {
	body := frame(0, []byte("abc"))
	msgs, err := Unframe(nil, body, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if &msgs[0][0] != &body[5] || cap(msgs[0]) != 3 {
		t.Error("an uncompressed message should share the body's memory, capped to its length")
	}
}

func FuzzUnframe(f *testing.F) {
	f.Add(frame(0, []byte("abc")), "", 64)
	f.Add(frame(1, gz(f, []byte("zipped"))), "gzip", 64)
	f.Add([]byte{1, 0, 0, 0, 1, 0}, "deflate", 3)
	f.Fuzz(func(t *testing.T, body []byte, encoding string, limit int) {
		limit %= 1 << 20
		msgs, err := Unframe(nil, body, encoding, limit)
		total := 0
		for _, m := range msgs {
			total += len(m)
		}
		if total > max(limit, 0) {
			t.Fatalf("%d message bytes over the limit %d (err %v)", total, limit, err)
		}
	})
}

func TestFramed(t *testing.T) {
	for _, tc := range []struct {
		name string
		body []byte
		want bool
	}{
		{"empty", nil, true},
		{"one", frame(0, []byte("abc")), true},
		{"compressed and plain", append(frame(1, []byte("zz")), frame(0, nil)...), true},
		{"bad flag", frame(2, []byte("abc")), false},
		{"short prefix", append(frame(0, []byte("a")), 0, 0), false},
		{"message cut short", frame(0, []byte("abc"))[:7], false},
		{"trailing byte", append(frame(0, []byte("a")), 0), false},
	} {
		if got := Framed(tc.body); got != tc.want {
			t.Errorf("%s: Framed %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFrameLen(t *testing.T) {
	if n, ok := FrameLen(frame(0, []byte("abc"))[:5]); !ok || n != 8 {
		t.Errorf("a prefix announcing 3 bytes: %d %v, want 8 true", n, ok)
	}
	if _, ok := FrameLen([]byte{0, 0, 0, 0}); ok {
		t.Error("4 bytes are no prefix")
	}
}
