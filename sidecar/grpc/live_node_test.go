package grpc_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jhump/protoreflect/desc/protoparse"
	ggrpc "google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/podtap/podtap/internal/netns"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar/metrics"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// nodeModulesEnv names the node_modules directory hack/node-deps.sh
// installs testdata/node's packages into.
const nodeModulesEnv = "PODTAP_GRPC_NODE_MODULES"

const nodeService = "shop.inventory.v1.Inventory"

// nodeItems are the items the calls send: maps (string, int64 keys;
// int32, message and enum values), 64-bit integers past 2^53, bytes,
// enums, nested and imported messages, repeated fields and a oneof.
var nodeItems = []string{
	`{"sku": "sku-1", "stock": {"berlin": 3, "oslo": -1}, "revision": "9007199254740993",
	  "weightGrams": "18446744073709551615", "thumbnail": "AAEC/w==", "kind": "KIND_DIGITAL",
	  "dimensions": [{"unit": "cm", "value": 1.5}, {"unit": "kg", "value": -0.25}], "tags": ["a", "b"],
	  "price": {"currency": "EUR", "units": "-12", "nanos": -500}, "byWarehouse": {"7": {"unit": "m", "value": 2}},
	  "kindByRegion": {"eu": "KIND_PHYSICAL"}, "history": ["1", "-9223372036854775808"], "status": "STATUS_ACTIVE",
	  "supplier": "acme", "note": "fragile", "prices": {"usd": {"currency": "USD", "units": "3"}}}`,
	`{"sku": "sku-2", "stock": {"": 0, "x": 2147483647}, "thumbnail": "", "kind": "KIND_PHYSICAL", "factoryId": 42,
	  "status": "STATUS_RETIRED", "byWarehouse": {"-1": {}}}`,
	`{"sku": "sku-3"}`,
}

// TestLiveGRPCNode captures a real grpc-js server in a namespace, with
// reflection by @grpc/reflection (v1) and by grpc-node-server-reflection
// (v1alpha). Their descriptors are the ones protobufjs builds (map entries
// named after their field, relative type names), which protodesc rejects
// unless normalised. Unary, server-, client- and bidi-streaming calls must
// every one come out decoded, each message equal to the one sent or
// received; none may be dropped for want of a schema.
func TestLiveGRPCNode(t *testing.T) {
	modules := os.Getenv(nodeModulesEnv)
	if _, err := os.Stat(filepath.Join(modules, "@grpc", "reflection")); modules == "" || err != nil {
		why := fmt.Sprintf("%s=%q has no @grpc/reflection; run: export %s=\"$(bash hack/node-deps.sh)\"", nodeModulesEnv, modules, nodeModulesEnv)
		if testenv.OnCI() {
			t.Fatalf("the grpc-js server is required on CI: %s", why)
		}
		t.Skipf("SKIPPED, NOT RUN: the grpc-js server is unavailable: %s (CI=true turns this into a failure)", why)
	}
	node := testenv.RequireTool(t, "node")
	pod := newPod(t, 3)
	for i, reflection := range []string{"@grpc/reflection", "grpc-node-server-reflection"} {
		t.Run(reflection, func(t *testing.T) {
			nodeCalls(t, pod, node, modules, 50081+i, reflection)
		})
	}
}

// nodeCalls makes the calls to the grpc-js server with reflection
// implementation reflection, serving on port in pod, and checks their
// records.
func nodeCalls(t *testing.T, pod *netns.Pod, node, modules string, port int, reflection string) {
	addr := netip.AddrPortFrom(netip.MustParseAddr(pod.IP()), uint16(port))
	startNode(t, pod, node, modules, addr, reflection)
	types := nodeTypes(t)
	out := sidecarIn(t, pod, port, sidecarConfig())
	noSchemaBefore := testutil.ToFloat64(metrics.PairsDropped.WithLabelValues(metrics.ReasonGRPCNoSchema))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cc := dial(t, addr)
	items := make([]proto.Message, len(nodeItems))
	for i, js := range nodeItems {
		items[i] = types.fromJSON(t, "Item", js)
	}
	list := types.message("ItemList")
	for _, it := range items {
		list.Mutable(list.Descriptor().Fields().ByName("items")).List().Append(protoreflect.ValueOfMessage(it.ProtoReflect()))
	}
	var calls []*nodeCall
	const rounds = 3
	for range rounds {
		for _, it := range items {
			req := types.message("GetItemRequest")
			req.Set(req.Descriptor().Fields().ByName("sku"), protoreflect.ValueOfString("get"))
			req.Set(req.Descriptor().Fields().ByName("item"), protoreflect.ValueOfMessage(it.ProtoReflect()))
			calls = append(calls, types.call(ctx, t, cc, "Get", false, false, req))
		}
		calls = append(calls,
			types.call(ctx, t, cc, "Watch", false, true, list),
			types.call(ctx, t, cc, "Upload", true, false, items...),
			types.call(ctx, t, cc, "Sync", true, true, items...))
	}
	for _, c := range calls {
		if c.method == "Get" || c.method == "Sync" {
			for i, got := range c.received {
				if want := c.echoOf(i); !proto.Equal(withoutInt64Keys(got), withoutInt64Keys(want)) {
					t.Errorf("%s: the server answered %v to %v: the test server does not echo", c.method, got, want)
				}
			}
		}
	}

	pairs, recs := asPairs(t, out.wait(t, len(calls)))
	decoded := map[string]int{}
	for i, r := range recs {
		g := r.GRPC
		if g == nil || g.Service != nodeService {
			t.Errorf("record %d is not a call of %s: %+v", i, nodeService, pairs[i])
			continue
		}
		c := matchCall(t, types, calls, g.Method, g.Requests, g.Responses)
		if c == nil {
			t.Errorf("%s: record matches no call made:\nrequests %s\nresponses %s", g.Method, g.Requests, g.Responses)
			continue
		}
		c.seen++
		decoded[c.method]++
	}
	for _, c := range calls {
		if c.seen != 1 {
			t.Errorf("%s call (%d requests) came out %d times, want once", c.method, len(c.sent), c.seen)
		}
	}
	if got := testutil.ToFloat64(metrics.PairsDropped.WithLabelValues(metrics.ReasonGRPCNoSchema)) - noSchemaBefore; got != 0 {
		t.Errorf("%v pairs dropped as grpc_no_schema", got)
	}
	t.Logf("grpc-js calls decoded: unary %d/%d, server streaming %d/%d, client streaming %d/%d, bidi %d/%d",
		decoded["Get"], rounds*len(items), decoded["Watch"], rounds, decoded["Upload"], rounds, decoded["Sync"], rounds)
}

// startNode runs testdata/node/server.js in pod, serving on addr with
// reflection implementation reflection, until
// the test ends: closing its stdin stops it.
func startNode(t *testing.T, pod *netns.Pod, node, modules string, addr netip.AddrPort, reflection string) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "node", "server.js"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := pod.Command(node, script, addr.String(), reflection)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the grpc-js server: %v", err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && !strings.HasPrefix(line, "listening ") {
			err = fmt.Errorf("unexpected output %q", line)
		}
		ready <- err
		io.Copy(io.Discard, stdout)
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("the grpc-js server did not start: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the grpc-js server did not start within 30s")
	}
}

// nodeSchema is the test's own reading of the server's .proto files,
// compiled as protoc would: the truth the records are checked against,
// independent of the descriptors the server serves.
type nodeSchema struct {
	service protoreflect.ServiceDescriptor
}

func nodeTypes(t *testing.T) *nodeSchema {
	t.Helper()
	fds, err := protoparse.Parser{ImportPaths: []string{filepath.Join("testdata", "node", "proto")}}.ParseFiles("shop/inventory/v1/inventory.proto")
	if err != nil {
		t.Fatalf("parsing the server's .proto: %v", err)
	}
	sd := fds[0].UnwrapFile().Services().ByName("Inventory")
	if sd == nil {
		t.Fatal("no Inventory service in the .proto")
	}
	return &nodeSchema{service: sd}
}

func (s *nodeSchema) message(name string) *dynamicpb.Message {
	md := s.service.ParentFile().Messages().ByName(protoreflect.Name(name))
	return dynamicpb.NewMessage(md)
}

func (s *nodeSchema) fromJSON(t *testing.T, name, js string) proto.Message {
	t.Helper()
	m := s.message(name)
	if err := protojson.Unmarshal([]byte(js), m); err != nil {
		t.Fatalf("test message %s: %v", name, err)
	}
	return m
}

// nodeCall is one call made and what came of it.
type nodeCall struct {
	method   string
	sent     []proto.Message
	received []proto.Message
	seen     int
}

// echoOf is what the server answers the i-th message with when it echoes.
func (c *nodeCall) echoOf(i int) proto.Message {
	if c.method == "Get" {
		m := c.sent[0].ProtoReflect()
		return m.Get(m.Descriptor().Fields().ByName("item")).Message().Interface()
	}
	return c.sent[i]
}

// withoutInt64Keys is m without its map of int64 keys: protobufjs
// re-encodes every such key as 0, so the server cannot echo it. The
// records are checked against what the server did send.
func withoutInt64Keys(m proto.Message) proto.Message {
	m = proto.Clone(m)
	r := m.ProtoReflect()
	r.Clear(r.Descriptor().Fields().ByName("by_warehouse"))
	return m
}

// call makes one call of method with msgs and keeps what it receives.
func (s *nodeSchema) call(ctx context.Context, t *testing.T, cc *ggrpc.ClientConn, method string, clientStreams, serverStreams bool, msgs ...proto.Message) *nodeCall {
	t.Helper()
	md := s.service.Methods().ByName(protoreflect.Name(method))
	st, err := cc.NewStream(ctx, &ggrpc.StreamDesc{ClientStreams: clientStreams, ServerStreams: serverStreams}, "/"+nodeService+"/"+method)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	c := &nodeCall{method: method, sent: msgs}
	for _, m := range msgs {
		if err := st.SendMsg(m); err != nil {
			t.Fatalf("%s: sending: %v", method, err)
		}
	}
	if err := st.CloseSend(); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	for {
		m := dynamicpb.NewMessage(md.Output())
		err := st.RecvMsg(m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: receiving: %v", method, err)
		}
		c.received = append(c.received, m)
	}
	if len(c.received) == 0 {
		t.Fatalf("%s: no answer", method)
	}
	return c
}

// matchCall finds the call of method not matched yet whose messages sent
// and received equal the record's, read back as the .proto's types.
func matchCall(t *testing.T, s *nodeSchema, calls []*nodeCall, method string, requests, responses []json.RawMessage) *nodeCall {
	t.Helper()
	md := s.service.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		return nil
	}
	for _, c := range calls {
		if c.method == method && c.seen == 0 && sameNodeMessages(t, md.Input(), requests, c.sent) && sameNodeMessages(t, md.Output(), responses, c.received) {
			return c
		}
	}
	return nil
}

func sameNodeMessages(t *testing.T, md protoreflect.MessageDescriptor, docs []json.RawMessage, want []proto.Message) bool {
	t.Helper()
	if len(docs) != len(want) {
		return false
	}
	for i, doc := range docs {
		m := dynamicpb.NewMessage(md)
		if err := protojson.Unmarshal(doc, m); err != nil {
			t.Errorf("decoded %s is not its protojson: %v\n%s", md.FullName(), err, doc)
			return false
		}
		if !proto.Equal(m, want[i]) {
			return false
		}
	}
	return true
}
