package flow_test

import (
	"context"
	"fmt"
	"encoding/json"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/sink"
)

type col struct{ n int }

func (c *col) Write(r sink.Record) {
	c.n++
	if os.Getenv("PTFX_LEN") != "" { var m map[string]any; json.Unmarshal(r.Value, &m); resp := m["response"].(map[string]any); b, _ := resp["body"].(string); fmt.Println("LEN", len(r.Value), resp["body_size"], len(b), resp["body_encoding"], resp["truncated"]) }
	s := string(r.Value)
	if len(s) > 700 {
		s = s[:700]
	}
	fmt.Println("RECORD", s)
}
func (c *col) Ready() error                    { return nil }
func (c *col) Close(ctx context.Context) error { return nil }

func TestPtfxPipeline(t *testing.T) {
	path := os.Getenv("PTFX_FILE")
	if path == "" {
		t.Skip()
	}
	cfg := config.DefaultSidecar()
	cfg.Filter.Enabled = false
	if os.Getenv("PTFX_BIGPAIR") != "" {
		cfg.Limits.MaxPairBytes = 100 << 20
	}
	if os.Getenv("PTFX_BIGMSG") != "" {
		cfg.Limits.MaxMessageBytes = 100 << 20
	}
	out := &col{}
	p, err := sidecar.New(cfg, out, sidecar.Where{})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := capture.OpenFile(path)
	p.Run(context.Background(), src)
	p.Close()
	mfs, _ := metrics.Registry.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "podtap_pairs_dropped_total" || mf.GetName() == "podtap_parse_errors_total" || mf.GetName() == "podtap_reassembly_gap_bytes_total" {
				fmt.Println(mf.GetName(), m.GetLabel(), m.GetCounter().GetValue())
			}
		}
	}
	_ = prometheus.Labels{}
}
