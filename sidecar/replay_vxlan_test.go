package sidecar_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podtap/podtap/internal/schematest"
	"github.com/podtap/podtap/sidecar/flow"
	"github.com/podtap/podtap/sidecar/metrics"
)

// vxlanCapture is a public capture of HTTP inside VXLAN, with its truth.
const vxlanCapture = "../testdata/vxlan/vxlan-encapsulated-http.pcap"

// vxlanRecord is what the VXLAN replay compares with tshark's truth.
type vxlanRecord struct {
	VNI    *int `json:"vni"`
	Client struct {
		IP   string `json:"ip"`
		Port int    `json:"port"`
	} `json:"client"`
	Server struct {
		IP   string `json:"ip"`
		Port int    `json:"port"`
	} `json:"server"`
	Request struct {
		Method string `json:"method"`
		Path   string `json:"path"`
	} `json:"request"`
	Response struct {
		Status   int `json:"status"`
		BodySize int `json:"body_size"`
	} `json:"response"`
}

// TestReplayVXLANCorpus replays Zeek's capture of HTTP inside VXLAN (UDP
// 4789) and compares the pairs with tshark's dissection of the same file.
func TestReplayVXLANCorpus(t *testing.T) {
	type truth struct {
		Kind     string `json:"kind"`
		VNI      int    `json:"vni"`
		Client   string `json:"client"`
		Server   string `json:"server"`
		Method   string `json:"method"`
		URI      string `json:"uri"`
		Status   int    `json:"status"`
		RespBody int    `json:"resp_body_len_decoded"`
		Complete bool   `json:"complete"`
	}
	var want []truth
	readLines(t, vxlanCapture+".tshark.jsonl", func(line []byte) {
		var tr truth
		if err := json.Unmarshal(line, &tr); err != nil {
			t.Fatal(err)
		}
		if tr.Kind == "http1" && tr.Complete {
			want = append(want, tr)
		}
	})
	if len(want) == 0 {
		t.Fatal("the truth lists no complete pair")
	}
	records := replay(t, noFilter(), vxlanCapture)
	if len(records) != len(want) {
		t.Fatalf("%d pairs, tshark has %d", len(records), len(want))
	}
	for i, raw := range records {
		var r vxlanRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		w := want[i]
		if r.VNI == nil || *r.VNI != w.VNI {
			t.Errorf("pair %d: vni %v, tshark %d", i, r.VNI, w.VNI)
		}
		client := r.Client.IP + ":" + strconv.Itoa(r.Client.Port)
		server := r.Server.IP + ":" + strconv.Itoa(r.Server.Port)
		if client != w.Client || server != w.Server {
			t.Errorf("pair %d: %s -> %s, tshark %s -> %s", i, client, server, w.Client, w.Server)
		}
		if r.Request.Method != w.Method || r.Request.Path != w.URI || r.Response.Status != w.Status || r.Response.BodySize != w.RespBody {
			t.Errorf("pair %d: %s %s %d body %d, tshark %s %s %d body %d", i,
				r.Request.Method, r.Request.Path, r.Response.Status, r.Response.BodySize, w.Method, w.URI, w.Status, w.RespBody)
		}
		if err := schematest.Validate(raw); err != nil {
			t.Errorf("pair %d: %v", i, err)
		}
	}
}

// TestReplayVXLANFilters: a VNI not listed in capture.vxlan.vnis drops
// every packet, counted, and another port leaves the UDP undecoded.
func TestReplayVXLANFilters(t *testing.T) {
	file := vxlanCapture
	filtered := metrics.PacketsIgnored.WithLabelValues(flow.IgnoredVNIFiltered)
	notTCP := metrics.PacketsIgnored.WithLabelValues(flow.IgnoredNotTCP)

	cfg := noFilter()
	cfg.Capture.VXLAN.VNIs = []int{2, 7}
	before := testutil.ToFloat64(filtered)
	if got := replay(t, cfg, file); len(got) != 0 {
		t.Errorf("VNI 1 not listed: %d pairs, want none", len(got))
	}
	if n := testutil.ToFloat64(filtered) - before; n != 12 {
		t.Errorf("vni_filtered grew by %v, want the capture's 12 packets", n)
	}

	cfg.Capture.VXLAN.VNIs = []int{1}
	if got := replay(t, cfg, file); len(got) != 1 {
		t.Errorf("VNI 1 listed: %d pairs, want 1", len(got))
	}

	cfg = noFilter()
	cfg.Capture.VXLAN.Port = 8472
	before = testutil.ToFloat64(notTCP)
	if got := replay(t, cfg, file); len(got) != 0 {
		t.Errorf("VXLAN port 8472: %d pairs from UDP 4789, want none", len(got))
	}
	if n := testutil.ToFloat64(notTCP) - before; n != 12 {
		t.Errorf("not_tcp grew by %v, want 12", n)
	}
}
