package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/demoapp"
	"github.com/podtap/podtap/internal/schematest"
	"github.com/podtap/podtap/internal/testenv"
)

// TestDemo runs the demo as `podtap-demo` does: through Kafka
// (kfake) and back, and checks that every pair the filter keeps is shown.
func TestDemo(t *testing.T) {
	testenv.RequireNetns(t)
	cfg := config.DefaultSidecar()
	cfg.Metrics.Addr = ""
	var stdout, stderr bytes.Buffer
	if err := runDemo(context.Background(), cfg, 2, true, &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v\n%s", err, stderr.String())
	}
	kept := 0
	for _, c := range demoapp.Mix() {
		if c.Kept {
			kept += 2
		}
	}
	// Every gRPC call of the demo becomes one pair, decoded by reflection.
	kept += 5
	var pairs, grpcPairs int
	paths := map[string]bool{}
	for line := range strings.SplitSeq(stdout.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		if err := schematest.Validate([]byte(line)); err != nil {
			t.Fatal(err)
		}
		var r struct {
			Protocol string
			Pod      map[string]string
			Request  struct{ Path string }
			GRPC     *struct {
				Service          string
				RequestMessages  []map[string]any `json:"request_messages"`
				ResponseMessages []map[string]any `json:"response_messages"`
			}
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r.Pod["namespace"] != demoNS {
			t.Errorf("pod fields missing: %s", line)
		}
		paths[r.Request.Path] = true
		pairs++
		if r.Protocol == "grpc" {
			grpcPairs++
			if r.GRPC == nil || r.GRPC.Service != "podtap.demo.v1.Greeter" || len(r.GRPC.RequestMessages) == 0 || r.GRPC.RequestMessages[0]["name"] == nil {
				t.Errorf("gRPC pair not decoded: %s", line)
			}
		}
	}
	if grpcPairs != 5 {
		t.Errorf("%d gRPC pairs, want 5", grpcPairs)
	}
	if pairs != kept {
		t.Fatalf("demo showed %d pairs, want %d\n%s", pairs, kept, stdout.String())
	}
	if paths["/healthz"] || paths["/api/orders/999"] {
		t.Errorf("dropped pairs shown: %v", paths)
	}
	if !strings.Contains(stdout.String(), "internal") || !strings.Contains(stdout.String(), "status") {
		t.Errorf("summary lacks the drops:\n%s", stdout.String())
	}
}
