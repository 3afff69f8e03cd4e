package grpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	ggrpc "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/podtap/podtap/internal/grpcdemo"
	"github.com/podtap/podtap/sidecar/message"
)

// call is one gRPC call made, with what was sent and received: what its
// pair must show.
type call struct {
	// service is the greeter's when empty.
	service string
	method  string
	// key is the name (greeter) or the sku or prefix (catalog) in the
	// first request, unique per call.
	key      string
	reqs     []proto.Message
	resps    []proto.Message
	code     codes.Code
	msg      string
	encoding string
}

// callSet makes calls and records them.
type callSet struct {
	t      *testing.T
	schema *grpcdemo.Schema
	mu     sync.Mutex
	calls  []*call
}

func (cs *callSet) add(c *call) {
	cs.mu.Lock()
	cs.calls = append(cs.calls, c)
	cs.mu.Unlock()
}

func (cs *callSet) finish(c *call, err error) {
	st, _ := status.FromError(err)
	c.code, c.msg = st.Code(), st.Message()
	cs.add(c)
}

func msgs[T proto.Message](in ...T) []proto.Message {
	out := make([]proto.Message, len(in))
	for i, m := range in {
		out[i] = m
	}
	return out
}

// unary makes a SayHello call.
func (cs *callSet) unary(ctx context.Context, cl *grpcdemo.Client, name string, blob []byte, tags ...string) {
	req := cs.schema.NewRequest(name, 2, blob, tags...)
	c := &call{method: grpcdemo.SayHello, key: name, reqs: msgs(req)}
	reply, err := cl.SayHello(ctx, req)
	if reply != nil {
		c.resps = msgs(reply)
	}
	cs.finish(c, err)
}

// all makes every kind of call on one client: unary, the three
// streaming kinds, error statuses, a 500 KiB message, gzip-compressed
// messages, and 20 concurrent calls.
func (cs *callSet) all(ctx context.Context, plain, gz *grpcdemo.Client, tag string) {
	t := cs.t
	cs.unary(ctx, plain, tag+"ada", []byte{0, 1, 2, 0xff}, "a", "b")

	req := cs.schema.NewRequest(tag+"bob", 5, nil)
	replies, err := plain.StreamReplies(ctx, req)
	cs.finish(&call{method: grpcdemo.StreamReplies, key: tag + "bob", reqs: msgs(req), resps: msgs(replies...)}, err)

	names := []*dynamicpb.Message{cs.schema.NewRequest(tag+"cy", 0, nil), cs.schema.NewRequest("dee", 0, nil), cs.schema.NewRequest("eve", 0, nil)}
	reply, err := plain.CollectNames(ctx, names)
	cs.finish(&call{method: grpcdemo.CollectNames, key: tag + "cy", reqs: msgs(names...), resps: msgs(reply)}, err)

	chat := []*dynamicpb.Message{cs.schema.NewRequest(tag+"fay", 0, nil), cs.schema.NewRequest("gus", 0, nil)}
	replies, err = plain.Chat(ctx, chat)
	cs.finish(&call{method: grpcdemo.Chat, key: tag + "fay", reqs: msgs(chat...), resps: msgs(replies...)}, err)

	// Error statuses: unary, mid-stream, bidi.
	for _, name := range []string{grpcdemo.NameInvalid, grpcdemo.NameBoom} {
		req := cs.schema.NewRequest(name, 1, []byte(tag))
		reply, err := plain.SayHello(ctx, req)
		if reply != nil {
			t.Errorf("%s answered", name)
		}
		cs.finish(&call{method: grpcdemo.SayHello, key: name, reqs: msgs(req)}, err)
	}
	req = cs.schema.NewRequest(grpcdemo.NameBoom, 3, []byte(tag+"stream"))
	replies, err = plain.StreamReplies(ctx, req)
	cs.finish(&call{method: grpcdemo.StreamReplies, key: grpcdemo.NameBoom, reqs: msgs(req), resps: msgs(replies...)}, err)
	chat = []*dynamicpb.Message{cs.schema.NewRequest(tag+"hal", 0, nil), cs.schema.NewRequest(grpcdemo.NameInvalid, 0, nil)}
	replies, err = plain.Chat(ctx, chat)
	cs.finish(&call{method: grpcdemo.Chat, key: tag + "hal", reqs: msgs(chat...), resps: msgs(replies...)}, err)

	// A 500 KiB message each way.
	big := bytes.Repeat([]byte("0123456789abcdef"), 500<<10/16)
	cs.unary(ctx, plain, tag+"big", big, grpcdemo.TagEcho)

	// gzip-compressed messages.
	n := len(cs.calls)
	cs.unary(ctx, gz, tag+"zip", bytes.Repeat([]byte("zip"), 3000), grpcdemo.TagEcho)
	chat = []*dynamicpb.Message{cs.schema.NewRequest(tag+"zed", 0, bytes.Repeat([]byte("z"), 2000)), cs.schema.NewRequest("zoe", 0, nil)}
	replies, err = gz.Chat(ctx, chat)
	cs.finish(&call{method: grpcdemo.Chat, key: tag + "zed", reqs: msgs(chat...), resps: msgs(replies...)}, err)
	for _, c := range cs.calls[n:] {
		c.encoding = "gzip"
	}

	// 20 concurrent calls on the one connection.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { cs.unary(ctx, plain, fmt.Sprintf("%sconc-%02d", tag, i), []byte{byte(i)}) })
	}
	wg.Wait()
}

// clients returns a plain and a gzip client on one connection.
func clients(cc ggrpc.ClientConnInterface, s *grpcdemo.Schema) (plain, gz *grpcdemo.Client) {
	return grpcdemo.NewClient(cc, s), grpcdemo.NewClient(cc, s, ggrpc.UseCompressor("gzip"))
}

// check matches pairs to calls by method and first request name and
// asserts that each call came out as exactly one pair with its messages
// decoded to what protojson makes of the messages sent and received.
func (cs *callSet) check(pairs []*message.Pair) {
	t := cs.t
	t.Helper()
	byKey := map[string]*message.Pair{}
	for _, p := range pairs {
		if p.GRPC == nil {
			t.Errorf("pair without gRPC: %s %s", p.Protocol, p.Request.Path)
			continue
		}
		if p.GRPC.Service != grpcdemo.Service {
			t.Errorf("pair of another service: %q %q", p.GRPC.Service, p.Request.Path)
			continue
		}
		if len(p.GRPC.RequestJSON) == 0 {
			t.Errorf("%s: request not decoded (flags %v)", p.Request.Path, p.Flags)
			continue
		}
		var first struct{ Name string }
		if err := json.Unmarshal(p.GRPC.RequestJSON[0], &first); err != nil {
			t.Errorf("%s: request JSON %s: %v", p.Request.Path, p.GRPC.RequestJSON[0], err)
			continue
		}
		k := p.GRPC.Method + "/" + first.Name
		if byKey[k] != nil {
			t.Errorf("two pairs for %s", k)
		}
		byKey[k] = p
	}
	for _, c := range cs.calls {
		p := byKey[c.method+"/"+c.key]
		if p == nil {
			t.Errorf("call %s(%s): no pair", c.method, c.key)
			continue
		}
		delete(byKey, c.method+"/"+c.key)
		g := p.GRPC
		if g.Method != c.method || !g.HasStatus || codes.Code(g.StatusCode) != c.code || g.StatusMessage != c.msg {
			t.Errorf("call %s(%s): method %s status %v %d %q, want %d %q", c.method, c.key, g.Method, g.HasStatus, g.StatusCode, g.StatusMessage, c.code, c.msg)
		}
		if c.encoding != "" && g.Encoding != c.encoding {
			t.Errorf("call %s(%s): encoding %q, want %q", c.method, c.key, g.Encoding, c.encoding)
		}
		sameMessages(t, c.method+"("+c.key+") request", g.RequestJSON, c.reqs)
		sameMessages(t, c.method+"("+c.key+") response", g.ResponseJSON, c.resps)
	}
	for k := range byKey {
		t.Errorf("pair %s matches no call", k)
	}
}

// sameMessages compares decoded JSON with protojson's rendering of the
// messages, as JSON values (protojson varies its spacing on purpose).
func sameMessages(t *testing.T, what string, got [][]byte, want []proto.Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d messages, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		wb, err := protojson.Marshal(want[i])
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got[i], &g); err != nil {
			t.Errorf("%s %d: not JSON: %.200s", what, i, got[i])
			continue
		}
		if err := json.Unmarshal(wb, &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s %d: %.300s, want %.300s", what, i, got[i], wb)
		}
	}
}

// collect reads n pairs from ch.
func collect(t *testing.T, ch <-chan *message.Pair, n int, wait time.Duration) []*message.Pair {
	t.Helper()
	var out []*message.Pair
	deadline := time.After(wait)
	for len(out) < n {
		select {
		case p := <-ch:
			out = append(out, p)
		case <-deadline:
			t.Errorf("%d pairs came out, want %d", len(out), n)
			return out
		}
	}
	return out
}
