package grpc

import (
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/podtap/podtap/internal/grpcdemo"
	"github.com/podtap/podtap/sidecar/message"
)

// decodeCall decodes a call of method with these messages, as the
// enricher does for a pair.
func decodeCall(s *schema, method string, reqs, resps [][]byte) (req, resp [][]byte, err error) {
	g := &message.GRPC{Method: method, RequestMessages: reqs, ResponseMessages: resps}
	err = s.decode(g)
	return g.RequestJSON, g.ResponseJSON, err
}

// TestSchemaDecodeLends checks a call of one message each way is decoded
// into the view's own room and a lent buffer, which Release gives back.
func TestSchemaDecodeLends(t *testing.T) {
	demo, err := grpcdemo.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	s := newSchema(demo.Service)
	req, reply := demo.NewRequest("ann", 2, nil), demo.NewReply("hi", 1, 2, nil)
	g := &message.GRPC{Method: "SayHello", RequestMessages: wire(t, req), ResponseMessages: wire(t, reply)}
	if err := s.decode(g); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, g.RequestJSON[0], mustJSON(t, req))
	sameJSON(t, g.ResponseJSON[0], mustJSON(t, reply))
	if &g.RequestJSON[0] != &g.JSONRoom[0] || &g.ResponseJSON[0] != &g.JSONRoom[1] {
		t.Error("the documents' lists are not the view's room")
	}
	if g.ReleaseJSON == nil || unsafe.SliceData(g.JSONLent) != unsafe.SliceData(g.RequestJSON[0]) {
		t.Fatal("the documents are not in the lent buffer")
	}
	(&message.Pair{GRPC: g}).Release()
	if g.RequestJSON != nil || g.ResponseJSON != nil || g.JSONLent != nil || g.ReleaseJSON != nil {
		t.Error("released JSON is still pointed at")
	}
}

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
	docs, none, err := decodeCall(s, "CollectNames", reqs, nil)
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
	_, docs, err = decodeCall(s, "SayHello", nil, wire(t, reply))
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, docs[0], mustJSON(t, reply))

	if _, _, err := decodeCall(s, "SayHello", [][]byte{reqs[0], {0x08}}, nil); err == nil || !strings.Contains(err.Error(), "message 1 of") {
		t.Fatalf("malformed second message: got %v", err)
	}
	if _, _, err := decodeCall(s, "Nope", nil, nil); !errors.Is(err, errNoMethod) {
		t.Fatalf("unknown method: got %v", err)
	}
	docs, _, err = decodeCall(s, "SayHello", nil, nil)
	if err != nil || docs == nil || len(docs) != 0 {
		t.Fatalf("no messages: got %v, %v", docs, err)
	}
}
