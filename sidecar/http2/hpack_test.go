package http2

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// encodeBlocks HPACK-encodes header lists with x/net's encoder, whose
// choices (indexing, Huffman, evictions) the decoder must follow.
func encodeBlocks(t testing.TB, lists [][]hpack.HeaderField, sizes map[int]uint32) [][]byte {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	var out [][]byte
	for i, l := range lists {
		if sz, ok := sizes[i]; ok {
			enc.SetMaxDynamicTableSizeLimit(sz)
			enc.SetMaxDynamicTableSize(sz)
		}
		buf.Reset()
		for _, f := range l {
			if err := enc.WriteField(f); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, bytes.Clone(buf.Bytes()))
	}
	return out
}

func randomLists(r *rand.Rand, n int) [][]hpack.HeaderField {
	names := []string{":method", ":path", "content-type", "x-id", "x-trace", "accept", "cookie", "grpc-timeout"}
	var lists [][]hpack.HeaderField
	for range n {
		var l []hpack.HeaderField
		for range 1 + r.IntN(8) {
			name := names[r.IntN(len(names))]
			if r.IntN(10) == 0 {
				name = fmt.Sprintf("x-new-%d", r.IntN(50))
			}
			value := fmt.Sprintf("v%d", r.IntN(40))
			if r.IntN(20) == 0 {
				value = string(bytes.Repeat([]byte{'z'}, r.IntN(3000)))
			}
			l = append(l, hpack.HeaderField{Name: name, Value: value, Sensitive: r.IntN(15) == 0})
		}
		lists = append(lists, l)
	}
	return lists
}

// TestDecoderMatchesEncoder decodes from the start: every field exact.
func TestDecoderMatchesEncoder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	lists := randomLists(r, 500)
	blocks := encodeBlocks(t, lists, map[int]uint32{100: 512, 200: 0, 201: 4096, 300: 1024})
	d := newDecoder(false)
	for i, b := range blocks {
		fields, err := d.decode(nil, b)
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		checkFields(t, i, fields, lists[i], true)
	}
}

// TestDecoderLateJoin starts decoding at many blocks of a warm table:
// whatever resolves must be right, and the rest is marked unknown.
func TestDecoderLateJoin(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	lists := randomLists(r, 400)
	blocks := encodeBlocks(t, lists, map[int]uint32{250: 2048})
	for _, start := range []int{1, 7, 50, 120, 251, 399} {
		d := newDecoder(true)
		unknown := 0
		for i := start; i < len(blocks); i++ {
			fields, err := d.decode(nil, blocks[i])
			if err != nil {
				t.Fatalf("start %d, block %d: %v", start, i, err)
			}
			unknown += checkFields(t, i, fields, lists[i], false)
		}
		t.Logf("joined at block %d: %d fields unknown", start, unknown)
	}
}

// checkFields compares decoded fields with what was encoded and returns
// how many were unknown.
func checkFields(t *testing.T, block int, got []hfield, want []hpack.HeaderField, exact bool) int {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("block %d: %d fields, want %d", block, len(got), len(want))
	}
	unknown := 0
	for j, f := range got {
		if f.NameUnknown || f.ValueUnknown {
			unknown++
			if exact {
				t.Errorf("block %d field %d unknown on a decoder that saw everything", block, j)
			}
		}
		if !f.NameUnknown && f.Name != want[j].Name {
			t.Errorf("block %d field %d: name %q, want %q", block, j, f.Name, want[j].Name)
		}
		if !f.ValueUnknown && f.Value != want[j].Value {
			t.Errorf("block %d field %d: value %q, want %q", block, j, f.Value, want[j].Value)
		}
	}
	return unknown
}

func TestDecoderErrors(t *testing.T) {
	for _, b := range [][]byte{
		{0x80},            // index 0
		{0x40, 0x85, 'a'}, // name longer than the block
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, // integer overflow
		{0x3f},                   // truncated size update
		{0x00, 0x81, 0xff, 0x00}, // invalid Huffman
	} {
		d := newDecoder(false)
		if _, err := d.decode(nil, b); err == nil {
			t.Errorf("%x: no error", b)
		}
	}
}
