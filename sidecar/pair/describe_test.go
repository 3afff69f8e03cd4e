package pair

import (
	"testing"

	"github.com/podtap/podtap/sidecar/message"
)

func TestSplitPath(t *testing.T) {
	for path, want := range map[string][2]string{
		"/helloworld.Greeter/SayHello": {"helloworld.Greeter", "SayHello"},
		"/Svc/M":                       {"Svc", "M"},
		"":                             {"", ""},
		"/":                            {"", ""},
		"/onlyservice":                 {"", ""},
		"/a/b/c":                       {"", ""},
		"noslash/M":                    {"", ""},
		"//M":                          {"", ""},
	} {
		s, m := splitPath(path)
		if s != want[0] || m != want[1] {
			t.Errorf("%q: %q %q, want %q", path, s, m, want)
		}
	}
}

// described is describe's view of the halves.
func described(req *message.Request, resp *message.Response) *message.GRPC {
	g := &message.GRPC{}
	Describe(g, req, resp)
	return g
}

func TestDescribe(t *testing.T) {
	req := &message.Request{
		Path:     "/pkg.Svc/Call",
		Headers:  message.Headers{{Name: "grpc-encoding", Value: "gzip"}},
		Messages: [][]byte{[]byte("a")},
	}
	trailers := &message.Response{
		Headers:  message.Headers{{Name: "content-type", Value: "application/grpc"}},
		Trailers: message.Headers{{Name: "grpc-status", Value: "13"}, {Name: "grpc-message", Value: "boom:%20%C3%BCn%C3%AFcode%20100%25"}},
		Messages: [][]byte{[]byte("b"), []byte("c")},
	}
	g := described(req, trailers)
	if g.Service != "pkg.Svc" || g.Method != "Call" || g.Encoding != "gzip" || !g.HasStatus || g.StatusCode != 13 ||
		g.StatusMessage != "boom: ünïcode 100%" || len(g.RequestMessages) != 1 || len(g.ResponseMessages) != 2 {
		t.Errorf("with trailers: %+v", g)
	}
	only := &message.Response{Headers: message.Headers{{Name: "grpc-status", Value: "5"}, {Name: "grpc-message", Value: "100%"}}}
	if g := described(req, only); !g.HasStatus || g.StatusCode != 5 || g.StatusMessage != "100%" {
		t.Errorf("trailers-only: %+v", g)
	}
	if g := described(req, &message.Response{}); g.HasStatus {
		t.Errorf("no trailers: %+v", g)
	}
	if g := described(req, &message.Response{Trailers: message.Headers{{Name: "grpc-status", Value: "x"}}}); g.HasStatus {
		t.Errorf("bad status: %+v", g)
	}
}

// TestGRPCPairsDescribed checks pairing describes the call of the gRPC
// pairs it makes, and only theirs.
func TestGRPCPairsDescribed(t *testing.T) {
	var c collected
	conn := newConn(&c)
	r := req("/pkg.Svc/Call", 0)
	r.Proto, r.StreamID = message.ProtoGRPC, 1
	conn.Request(r)
	conn.Request(req("/plain", 1))
	conn.Response(&message.Response{Proto: message.ProtoGRPC, StreamID: 1, Status: 200, Trailers: message.Headers{{Name: "grpc-status", Value: "0"}}})
	conn.Response(resp(200, 2))
	if len(c.pairs) != 2 {
		t.Fatalf("%d pairs", len(c.pairs))
	}
	if g := c.pairs[0].GRPC; g == nil || g.Service != "pkg.Svc" || g.Method != "Call" || !g.HasStatus {
		t.Errorf("gRPC pair described as %+v", g)
	}
	if c.pairs[1].GRPC != nil {
		t.Error("an HTTP/1 pair was given a gRPC view")
	}
}
