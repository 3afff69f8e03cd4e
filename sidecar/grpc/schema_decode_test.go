package grpc

import (
	"errors"
	"strings"
	"testing"

	"github.com/podtap/podtap/internal/grpcdemo"
)

// TestSchemaDecode checks decode finds the method's type on the right
// side, writes each message as protojson does, and that its documents,
// sharing one buffer, do not share capacity.
func TestSchemaDecode(t *testing.T) {
	demo, err := grpcdemo.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	s := newSchema(demo.Service)
	reqs := append(wire(t, demo.NewRequest("ann", 2, []byte("blob"), "a"), demo.NewRequest("bob", 3, nil)), nil)
	docs, none, err := s.decode("CollectNames", reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := jsonOf(t, demo.NewRequest("ann", 2, []byte("blob"), "a"), demo.NewRequest("bob", 3, nil), demo.NewRequest("", 0, nil))
	if none == nil || len(none) != 0 {
		t.Fatalf("no response messages: got %v", none)
	}
	if len(docs) != len(want) {
		t.Fatalf("%d documents for %d messages", len(docs), len(want))
	}
	for i := range docs {
		sameJSON(t, docs[i], want[i])
		if cap(docs[i]) != len(docs[i]) {
			t.Fatalf("document %d has spare capacity %d: appending to it would overwrite the next", i, cap(docs[i])-len(docs[i]))
		}
	}
	reply := demo.NewReply("hi", 1, 2, nil)
	_, docs, err = s.decode("SayHello", nil, wire(t, reply))
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, docs[0], mustJSON(t, reply))

	if _, _, err := s.decode("SayHello", [][]byte{reqs[0], {0x08}}, nil); err == nil || !strings.Contains(err.Error(), "message 1 of") {
		t.Fatalf("malformed second message: got %v", err)
	}
	if _, _, err := s.decode("Nope", nil, nil); !errors.Is(err, errNoMethod) {
		t.Fatalf("unknown method: got %v", err)
	}
	docs, _, err = s.decode("SayHello", nil, nil)
	if err != nil || docs == nil || len(docs) != 0 {
		t.Fatalf("no messages: got %v, %v", docs, err)
	}
}
