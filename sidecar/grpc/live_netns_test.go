package grpc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	ggrpc "google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/grpcdemo"
	"github.com/podtap/podtap/internal/netns"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/sink"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The live tests run a real grpc-go server inside a network namespace
// named pth2-ns* (ptli-ns* for the late start), joined to the host by a
// veth pair addressed in 10.215.0.0/16 (10.216.0.0/16), and capture the namespace's eth0 with the whole sidecar
// pipeline, as the sidecar would in the pod. The client calls from the
// host; nothing leaves the namespace and its veth.

func newPod(t *testing.T, n uint8) *netns.Pod {
	t.Helper()
	return testenv.NewPod(t, "pth2-", 215, n)
}

// serveIn runs the greeter inside pod on port.
func serveIn(t *testing.T, pod *netns.Pod, port int, opts grpcdemo.ServerOptions) (*grpcdemo.Schema, netip.AddrPort) {
	t.Helper()
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr(pod.IP()), uint16(port))
	ln, err := pod.Listen("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	srv := grpcdemo.NewServer(schema, opts)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return schema, addr
}

// records is a sink that keeps records in memory.
type records struct {
	mu  sync.Mutex
	got [][]byte
}

func (r *records) Write(rec sink.Record) {
	r.mu.Lock()
	r.got = append(r.got, rec.Value)
	r.mu.Unlock()
}
func (r *records) Ready() error                { return nil }
func (r *records) Close(context.Context) error { return nil }

func (r *records) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// wait waits for n records, then a moment more for any that should not
// come, and returns them all.
func (r *records) wait(t *testing.T, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for r.len() < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.got...)
}

// sidecarIn starts the sidecar pipeline capturing pod's eth0 on port.
func sidecarIn(t *testing.T, pod *netns.Pod, port int, cfg config.Sidecar) *records {
	t.Helper()
	cfg.Capture.Interface = "eth0"
	cfg.Capture.Ports = []int{port}
	var src *capture.Live
	if err := pod.Do(func() (err error) {
		src, err = capture.OpenLive("eth0", cfg.Capture)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	out := &records{}
	p, err := sidecar.New(cfg, out, sidecar.Where{PodIPs: []netip.Addr{netip.MustParseAddr(pod.IP())}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, src) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pipeline: %v", err)
		}
		p.Close()
		src.Close()
	})
	return out
}

func sidecarConfig() config.Sidecar {
	cfg := config.DefaultSidecar()
	cfg.Filter.Enabled = false
	// The 500 KiB message is echoed: its pair is two of them, in base64.
	cfg.Limits.MaxPairBytes = 4 * config.MiB
	cfg.Flow.IdleTimeout = 5 * time.Second
	return cfg
}

func dial(t *testing.T, addr netip.AddrPort) *ggrpc.ClientConn {
	t.Helper()
	cc, err := ggrpc.NewClient("passthrough:///"+addr.String(), ggrpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// record is what the checks read of an emitted pair record.
type record struct {
	Protocol  string `json:"protocol"`
	Direction string `json:"direction"`
	Request   struct {
		Path    string              `json:"path"`
		Headers map[string][]string `json:"headers"`
	} `json:"request"`
	GRPC *struct {
		Service       string            `json:"service"`
		Method        string            `json:"method"`
		StatusCode    *int              `json:"status_code"`
		StatusMessage string            `json:"status_message"`
		Requests      []json.RawMessage `json:"request_messages"`
		Responses     []json.RawMessage `json:"response_messages"`
	} `json:"grpc"`
	Flags []string `json:"flags"`
}

// asPairs reads records back into pairs for callSet.check; undecoded
// messages stay nil JSON.
func asPairs(t *testing.T, recs [][]byte) ([]*message.Pair, []record) {
	t.Helper()
	var pairs []*message.Pair
	var parsed []record
	for _, b := range recs {
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("record is not JSON: %v\n%.300s", err, b)
		}
		parsed = append(parsed, r)
		p := &message.Pair{Protocol: r.Protocol, Direction: r.Direction, Request: &message.Request{Path: r.Request.Path}, Flags: r.Flags}
		if g := r.GRPC; g != nil {
			pg := &message.GRPC{Service: g.Service, Method: g.Method, StatusMessage: g.StatusMessage}
			if g.StatusCode != nil {
				pg.StatusCode, pg.HasStatus = *g.StatusCode, true
			}
			if e := r.Request.Headers["grpc-encoding"]; len(e) > 0 {
				pg.Encoding = e[0]
			}
			undecoded := slices.Contains(r.Flags, "grpc_undecoded")
			for _, m := range g.Requests {
				pg.RequestMessages = append(pg.RequestMessages, m)
				if !undecoded {
					pg.RequestJSON = append(pg.RequestJSON, m)
				}
			}
			for _, m := range g.Responses {
				pg.ResponseMessages = append(pg.ResponseMessages, m)
				if !undecoded {
					pg.ResponseJSON = append(pg.ResponseJSON, m)
				}
			}
			p.GRPC = pg
		}
		pairs = append(pairs, p)
	}
	return pairs, parsed
}

// TestLiveGRPC captures a real grpc-go server with reflection (v1 and
// v1alpha) in a namespace: unary, server-, client- and bidi-streaming
// calls, error statuses, a 500 KiB message, gzip-compressed messages and
// 20 concurrent calls on one connection. Every call must come out as one
// inbound pair whose messages decode to the JSON protojson gives for the
// messages sent, and the sidecar's own reflection calls, which cross the
// same interface, must not come out.
func TestLiveGRPC(t *testing.T) {
	pod := newPod(t, 1)
	const port = 50051
	schema, addr := serveIn(t, pod, port, grpcdemo.ServerOptions{ReflectionV1: true, ReflectionV1Alpha: true})
	out := sidecarIn(t, pod, port, sidecarConfig())
	internalBefore := testutil.ToFloat64(metrics.PairsDropped.WithLabelValues(metrics.ReasonInternal))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs := &callSet{t: t, schema: schema}
	plain, gz := clients(dial(t, addr), schema)
	cs.all(ctx, plain, gz, "")

	pairs, recs := asPairs(t, out.wait(t, len(cs.calls)))
	cs.check(pairs)
	for _, r := range recs {
		if r.Direction != message.Inbound {
			t.Errorf("%s: direction %q, want inbound", r.Request.Path, r.Direction)
		}
	}
	if got := testutil.ToFloat64(metrics.PairsDropped.WithLabelValues(metrics.ReasonInternal)) - internalBefore; got < 1 {
		t.Errorf("%v reflection pairs captured and dropped as internal, want at least 1", got)
	}
}

// TestLiveGRPCWithoutReflection captures a server without reflection: its
// pairs are dropped (grpc_no_schema), emitted undecoded with service and
// method when configured, and decoded with a descriptor set.
func TestLiveGRPCWithoutReflection(t *testing.T) {
	pod := newPod(t, 2)
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	protoset := protosetFile(t, schema, false)
	for i, mode := range []string{"dropped", "undecoded", "descriptor set"} {
		t.Run(mode, func(t *testing.T) {
			port := 50061 + i
			schema, addr := serveIn(t, pod, port, grpcdemo.ServerOptions{})
			cfg := sidecarConfig()
			switch mode {
			case "undecoded":
				cfg.GRPC.EmitUndecoded = true
			case "descriptor set":
				cfg.GRPC.DescriptorSets = []string{protoset}
			}
			noSchemaBefore := testutil.ToFloat64(metrics.PairsDropped.WithLabelValues(metrics.ReasonGRPCNoSchema))
			out := sidecarIn(t, pod, port, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cs := &callSet{t: t, schema: schema}
			plain, gz := clients(dial(t, addr), schema)
			cs.all(ctx, plain, gz, "")
			switch mode {
			case "dropped":
				deadline := time.Now().Add(20 * time.Second)
				for time.Now().Before(deadline) && testutil.ToFloat64(metrics.PairsDropped.WithLabelValues(metrics.ReasonGRPCNoSchema))-noSchemaBefore < float64(len(cs.calls)) {
					time.Sleep(20 * time.Millisecond)
				}
				if got := testutil.ToFloat64(metrics.PairsDropped.WithLabelValues(metrics.ReasonGRPCNoSchema)) - noSchemaBefore; got != float64(len(cs.calls)) {
					t.Errorf("%v pairs dropped as grpc_no_schema, want %d", got, len(cs.calls))
				}
				if n := out.len(); n != 0 {
					t.Errorf("%d records without a schema", n)
				}
			case "undecoded":
				pairs, _ := asPairs(t, out.wait(t, len(cs.calls)))
				if len(pairs) != len(cs.calls) {
					t.Errorf("%d records for %d calls", len(pairs), len(cs.calls))
				}
				for _, p := range pairs {
					g := p.GRPC
					if g == nil || g.Service != grpcdemo.Service || g.Method == "" || g.RequestJSON != nil || len(g.RequestMessages) == 0 || !slices.Contains(p.Flags, "grpc_undecoded") {
						t.Errorf("undecoded record: %+v flags %v", g, p.Flags)
					}
				}
			case "descriptor set":
				pairs, _ := asPairs(t, out.wait(t, len(cs.calls)))
				cs.check(pairs)
			}
		})
	}
}

// TestLiveGRPCLateStart opens a client connection and makes 50 calls
// before the sidecar starts, then 50 more: the capture joins the
// connection mid-stream with warm HPACK tables. Every later call must come
// out: resolved from its path, or inferred from its messages among the
// services the server lists by reflection (the catalog's calls, whose
// methods have types of their own), or flagged where HPACK left its
// headers unknown (only the greeter's, whose methods share theirs). The
// figures are logged.
func TestLiveGRPCLateStart(t *testing.T) {
	pod := testenv.NewPod(t, "ptli-", 216, 1)
	for i, requestIDs := range []bool{false, true} {
		t.Run(fmt.Sprintf("request ids %v", requestIDs), func(t *testing.T) {
			port := 50071 + i
			schema, addr := serveIn(t, pod, port, grpcdemo.ServerOptions{ReflectionV1: true, ReflectionV1Alpha: true, Catalog: true})
			cl := grpcdemo.NewClient(dial(t, addr), schema)
			lateCalls(t, schema, cl, 0, 50, requestIDs)
			cfg := sidecarConfig()
			cfg.GRPC.EmitUndecoded = true
			out := sidecarIn(t, pod, port, cfg)
			// The capture is running once it sees traffic; give the ring a
			// moment to be attached before the first call counts.
			time.Sleep(200 * time.Millisecond)
			before := inferenceCounts(t)
			want := lateCalls(t, schema, cl, 50, 50, requestIDs)
			pairs, _ := asPairs(t, out.wait(t, len(want)))
			resolved, inferred, unresolved := lateFigures(t, pairs, want)
			checkInferenceCounts(t, before, inferred, unresolved)
			t.Logf("live late start: of the last %d calls %d resolved from the path, %d inferred, %d left unresolved (flagged %s)", len(want), resolved, inferred, unresolved, message.FlagHPACKUnknown)
			if !requestIDs && inferred == 0 {
				t.Error("no call inferred although every path was unknown")
			}
		})
	}
}
