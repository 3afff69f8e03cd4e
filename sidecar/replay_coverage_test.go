package sidecar_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"google.golang.org/protobuf/proto"

	"github.com/podtap/podtap/internal/grpcdemo"
	"github.com/podtap/podtap/internal/pcapgen"
	"github.com/podtap/podtap/internal/schematest"
	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/coverage"
)

// TestReplayCoverage replays HTTP/1 and gRPC calls, one to a service whose
// schema podtap has and one to a service it has none for, and reads the
// pipeline's coverage: connections, pairs and drops per server, the gRPC
// services by schema, and the sensitive types per endpoint.
func TestReplayCoverage(t *testing.T) {
	schema, protoset := greeterProtoset(t)
	reqMsg, _ := proto.Marshal(schema.NewRequest("hi", 1, nil, "user@example.com"))
	replyMsg, _ := proto.Marshal(schema.NewRequest("ok", 0, nil))

	capPath := filepath.Join(t.TempDir(), "coverage.pcap")
	f, err := os.Create(capPath)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgen.NewWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	srv := netip.MustParseAddr("10.0.0.2")
	body := `{"customer":{"email":"user@example.com"}}`
	httpReq := "POST /orders/1234 HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: " + itoa(len(body)) + "\r\n\r\n" + body
	httpResp := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
	start := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	(&conversation{w: w, at: start, cli: netip.MustParseAddrPort("10.0.0.9:40000"), srv: netip.AddrPortFrom(srv, 8080), cseq: 1000, sseq: 5000}).
		run(t, []byte(httpReq), []byte(httpResp))
	gc, gs := grpcExchange(t, reqMsg, replyMsg)
	(&conversation{w: w, at: start.Add(time.Second), cli: netip.MustParseAddrPort("10.0.0.9:40001"), srv: netip.AddrPortFrom(srv, 50051), cseq: 1000, sseq: 5000}).
		run(t, gc, gs)
	uc, us := grpcCall(t, "/shop.Hidden/Get", reqMsg, replyMsg)
	(&conversation{w: w, at: start.Add(2 * time.Second), cli: netip.MustParseAddrPort("10.0.0.9:40002"), srv: netip.AddrPortFrom(srv, 50051), cseq: 1000, sseq: 5000}).
		run(t, uc, us)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	cfg := noFilter()
	cfg.GRPC.Reflection = "off"
	cfg.GRPC.DescriptorSets = []string{protoset}
	out := &collector{}
	p, err := sidecar.New(cfg, out, sidecar.Where{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := capture.OpenFile(capPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	src.Close()
	p.Close()
	if len(out.records) != 2 {
		t.Fatalf("%d records, want the HTTP/1 pair and the call with a schema", len(out.records))
	}

	rep, err := coverage.NewReporter(p.Coverage(), nil, coverage.Pod{}, time.Minute, nil).Build(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(rep)
	if err := schematest.ValidateCoverage(b); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	check := func(what string, got, want any) {
		t.Helper()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Errorf("%s:\n got %s\nwant %s", what, g, w)
		}
	}
	check("servers", rep.Servers, []coverage.Server{
		{Server: "10.0.0.2:50051", Connections: map[string]uint64{"http2": 2}, Pairs: map[string]uint64{"grpc": 1}, Drops: map[string]uint64{"grpc_no_schema": 1}},
		{Server: "10.0.0.2:8080", Connections: map[string]uint64{"http1": 1}, Pairs: map[string]uint64{"http/1.1": 1}, Drops: map[string]uint64{}},
	})
	check("grpc", rep.GRPC, []coverage.Service{
		{Server: "10.0.0.2:50051", Service: grpcdemo.Service, WithSchema: 1},
		{Server: "10.0.0.2:50051", Service: "shop.Hidden", WithoutSchema: 1},
	})
	check("sensitive", rep.Sensitive, []coverage.Endpoint{
		{Server: "10.0.0.2:50051", Endpoint: "POST /" + grpcdemo.Service + "/SayHello", Types: map[string]uint64{"api_key": 1, "email": 1}},
		{Server: "10.0.0.2:8080", Endpoint: "POST /orders/{id}", Types: map[string]uint64{"email": 1}},
	})
}
