package sink

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, r := range []*kgo.Record{
		{Key: []byte("shop/checkout"), Value: []byte(`{"a":1}`), Headers: []kgo.RecordHeader{
			{Key: HeaderSchema, Value: []byte(SchemaVersion)}, {Key: HeaderProtocol, Value: []byte("grpc")}}},
		{Value: []byte{}},
		{Key: bytes.Repeat([]byte("k"), 300), Value: bytes.Repeat([]byte{0, 0xff}, 70000)},
	} {
		got, err := parseEnvelope(appendEnvelope(nil, r))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Key, r.Key) || !bytes.Equal(got.Value, r.Value) || len(got.Headers) != len(r.Headers) {
			t.Fatalf("round trip changed the record: %+v", got)
		}
		for i, h := range r.Headers {
			if got.Headers[i].Key != h.Key || !bytes.Equal(got.Headers[i].Value, h.Value) {
				t.Fatalf("header %d: %+v", i, got.Headers[i])
			}
		}
	}
}

func TestEnvelopeRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {2}, {1}, {1, 5, 'a'}, {1, 0, 200}, {1, 0, 1, 3, 'a'}} {
		if _, err := parseEnvelope(b); err == nil {
			t.Fatalf("%v accepted", b)
		}
	}
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add(appendEnvelope(nil, &kgo.Record{Key: []byte("k"), Value: []byte("v"),
		Headers: []kgo.RecordHeader{{Key: "protocol", Value: []byte("h2")}}}))
	f.Add([]byte{1, 0, 0})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseEnvelope(b)
		if err != nil {
			return
		}
		// What parses survives a round trip unchanged.
		again, err := parseEnvelope(appendEnvelope(nil, r))
		if err != nil {
			t.Fatalf("re-encoding %x: %v", b, err)
		}
		if !bytes.Equal(again.Key, r.Key) || !bytes.Equal(again.Value, r.Value) || len(again.Headers) != len(r.Headers) {
			t.Fatalf("round trip of %x changed the record", b)
		}
		for i := range r.Headers {
			if again.Headers[i].Key != r.Headers[i].Key || !bytes.Equal(again.Headers[i].Value, r.Headers[i].Value) {
				t.Fatalf("round trip of %x changed header %d", b, i)
			}
		}
	})
}
