package sidecar_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/netns"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/flow"
	"github.com/podtap/podtap/sidecar/metrics"
)

// mirrored is a "pod" running nginx whose eth0 is mirrored, as cloud
// traffic mirroring does, by the kernel: tc on eth0 (clsact, a u32 filter
// matching everything, mirred egress mirror) copies every frame in and out
// to one vxlan link per VNI, which sends it over an underlay veth (MTU 1600,
// room for VXLAN's 50 bytes) to the receiver's namespace.
type mirrored struct {
	pod, receiver *netns.Pod
	underlayIP    string // the receiver's end of the underlay
}

const (
	vniA, vniB = 100, 200
	vxlanPort  = 4789
)

func newMirrored(t *testing.T) *mirrored {
	t.Helper()
	testenv.RequireTool(t, "nginx")
	testenv.RequireTool(t, "tc")
	pod := testenv.NewPod(t, "ptvx-", 218, 1)
	receiver := testenv.NewPod(t, "ptvx-", 218, 2)
	m := &mirrored{pod: pod, receiver: receiver, underlayIP: "10.218.9.2"}
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
	}
	ipIn := func(ns string, args ...string) { run("ip", append([]string{"-n", ns}, args...)...) }
	run("ip", "link", "add", "ul0", "netns", pod.Name, "mtu", "1600", "type", "veth", "peer", "name", "ul0", "netns", receiver.Name, "mtu", "1600")
	ipIn(pod.Name, "addr", "add", "10.218.9.1/30", "dev", "ul0")
	ipIn(receiver.Name, "addr", "add", m.underlayIP+"/30", "dev", "ul0")
	ipIn(pod.Name, "link", "set", "ul0", "up")
	ipIn(receiver.Name, "link", "set", "ul0", "up")
	for _, vni := range []int{vniA, vniB} {
		dev := fmt.Sprintf("vxm%d", vni)
		ipIn(pod.Name, "link", "add", dev, "mtu", "1500", "type", "vxlan", "id", strconv.Itoa(vni),
			"local", "10.218.9.1", "remote", m.underlayIP, "dstport", strconv.Itoa(vxlanPort), "dev", "ul0")
		ipIn(pod.Name, "link", "set", dev, "up")
	}
	run("ip", "netns", "exec", pod.Name, "tc", "qdisc", "add", "dev", "eth0", "clsact")
	for _, hook := range []string{"ingress", "egress"} {
		for prio, vni := range []int{vniA, vniB} {
			run("ip", "netns", "exec", pod.Name, "tc", "filter", "add", "dev", "eth0", hook, "prio", strconv.Itoa(prio+1),
				"u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", fmt.Sprintf("vxm%d", vni), "continue")
		}
	}

	testenv.StartNginx(t, pod, fmt.Sprintf(`	server {
		listen %[1]s:8080;
		location / {
			default_type application/json;
			return 200 '{"uri":"$uri","pad":"%[2]s"}';
		}
	}`, pod.IP(), strings.Repeat("x", 2000)), net.JoinHostPort(pod.IP(), "8080"))
	return m
}

// receiving is the pipeline run on the receiver's vxlan source.
type receiving struct {
	out  *collector
	p    *sidecar.Pipeline
	stop context.CancelFunc
	done chan error
}

func (m *mirrored) receive(t *testing.T, vnis []int) *receiving {
	t.Helper()
	cfg := config.DefaultSidecar()
	cfg.Capture.Source = config.SourceVXLAN
	cfg.Capture.VXLAN.VNIs = vnis
	// Larger than the default, as a busy receiver's host would set it (README:
	// capture.vxlan.receive_buffer_bytes, net.core.rmem_max): the suite runs
	// other packages on the same two cores, and wrk's mirrored packets of
	// both VNIs queue while the receiver waits for CPU.
	cfg.Capture.VXLAN.ReceiveBufferBytes = 128 * config.MiB
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var src capture.Source
	if err := m.receiver.Do(func() error {
		var err error
		src, err = capture.OpenVXLAN(cfg.Capture)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r := &receiving{out: &collector{}, done: make(chan error, 1)}
	var err error
	if r.p, err = sidecar.New(cfg, r.out, sidecar.Where{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { r.done <- r.p.Run(ctx, src) }()
	t.Cleanup(func() { cancel(); src.Close() })
	return r
}

// finish stops the receiver, which flushes every connection, and returns
// the pairs.
// waitFor waits until a pair for path has come out. The receiver reads its
// socket in order, so what was sent before that request has been read too,
// however long the buffer's backlog was.
func (r *receiving) waitFor(t *testing.T, path string) {
	t.Helper()
	want := []byte(`"path":"` + path + `"`)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		r.out.mu.Lock()
		found := slices.ContainsFunc(r.out.records, func(raw []byte) bool { return bytes.Contains(raw, want) })
		r.out.mu.Unlock()
		if found {
			return
		}
	}
	t.Errorf("no pair for %s within 30s", path)
}

func (r *receiving) finish(t *testing.T) []mirroredPair {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	r.stop()
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
	r.p.Close()
	r.out.mu.Lock()
	defer r.out.mu.Unlock()
	pairs := make([]mirroredPair, 0, len(r.out.records))
	for _, raw := range r.out.records {
		var p mirroredPair
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("%v: %s", err, raw)
		}
		pairs = append(pairs, p)
	}
	return pairs
}

type mirroredPair struct {
	VNI     *int `json:"vni"`
	Request struct {
		Path string `json:"path"`
	} `json:"request"`
	Response struct {
		Status int             `json:"status"`
		Body   json.RawMessage `json:"body"`
	} `json:"response"`
	Server struct {
		IP string `json:"ip"`
	} `json:"server"`
}

func curl(t *testing.T, url string) {
	t.Helper()
	if out, err := exec.Command("curl", "-sS", "--fail", "-o", "/dev/null", url).CombinedOutput(); err != nil {
		t.Fatalf("curl %s: %v: %s", url, err, out)
	}
}

// TestVXLANReceiverTwoVNIs mirrors the same pod to two VNIs, so the same
// 4-tuples arrive twice: each VNI's copy must pair on its own, and every
// response must be its own request's.
func TestVXLANReceiverTwoVNIs(t *testing.T) {
	testenv.RequireTool(t, "curl")
	m := newMirrored(t)
	r := m.receive(t, nil)
	const n = 20
	for i := range n {
		curl(t, fmt.Sprintf("http://%s:8080/items/%d", m.pod.IP(), i))
	}
	pairs := r.finish(t)
	seen := map[string]int{}
	for _, p := range pairs {
		if p.VNI == nil {
			t.Fatalf("pair of %s without vni", p.Request.Path)
		}
		if want := `"uri":"` + p.Request.Path + `"`; !strings.Contains(string(p.Response.Body), want) {
			t.Errorf("VNI %d: request %s got the response %.60s", *p.VNI, p.Request.Path, p.Response.Body)
		}
		seen[fmt.Sprintf("%d %s", *p.VNI, p.Request.Path)]++
	}
	for _, vni := range []int{vniA, vniB} {
		for i := range n {
			if k := fmt.Sprintf("%d /items/%d", vni, i); seen[k] != 1 {
				t.Errorf("%s: %d pairs, want 1", k, seen[k])
			}
		}
	}
	if len(pairs) != 2*n {
		t.Errorf("%d pairs, want %d (%d requests, each mirrored to 2 VNIs)", len(pairs), 2*n, n)
	}
}

var wrkRequests = regexp.MustCompile(`(\d+) requests in`)

// TestVXLANReceiverWrkFilterAndGarbage: under wrk, with only one VNI
// listed, at least 99.9 % of wrk's requests come out as pairs, all of that
// VNI; the other VNI's packets are dropped and counted; garbage on the
// VXLAN port is counted by reason and the receiver keeps pairing.
func TestVXLANReceiverWrkFilterAndGarbage(t *testing.T) {
	wrk := testenv.RequireTool(t, "wrk")
	testenv.RequireTool(t, "curl")
	m := newMirrored(t)
	filtered := metrics.PacketsIgnored.WithLabelValues(flow.IgnoredVNIFiltered)
	reasons := []string{flow.IgnoredVXLANShort, flow.IgnoredVXLANNoVNI, flow.IgnoredVXLANReserved, flow.IgnoredInnerMalformed}
	before := map[string]float64{}
	for _, reason := range append(reasons, flow.IgnoredVNIFiltered) {
		before[reason] = testutil.ToFloat64(metrics.PacketsIgnored.WithLabelValues(reason))
	}
	drops := testutil.ToFloat64(metrics.KernelDrops)
	r := m.receive(t, []int{vniA})

	out, err := exec.Command(wrk, "-t1", "-c2", "-d2s", fmt.Sprintf("http://%s:8080/wrk", m.pod.IP())).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v: %s", err, out)
	}
	match := wrkRequests.FindSubmatch(out)
	if match == nil {
		t.Fatalf("wrk printed no request count: %s", out)
	}
	requests, _ := strconv.Atoi(string(match[1]))

	// Garbage from the underlay: short, without the I flag, with reserved
	// bits, and a valid header before a truncated frame.
	garbage := [][]byte{
		{1, 2, 3},
		{0, 0, 0, 0, 0, 0, vniA, 0, 1, 2},
		{0x0c, 0, 0, 3, 0, 0, vniA, 0},
		{8, 0, 0, 0, 0, 0, vniA, 0, 0xde, 0xad},
	}
	if err := m.pod.Do(func() error {
		c, err := net.Dial("udp", net.JoinHostPort(m.underlayIP, strconv.Itoa(vxlanPort)))
		if err != nil {
			return err
		}
		defer c.Close()
		for _, g := range garbage {
			if _, err := c.Write(g); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	curl(t, fmt.Sprintf("http://%s:8080/after-garbage", m.pod.IP()))
	r.waitFor(t, "/after-garbage")
	pairs := r.finish(t)

	wrkPairs, after := 0, false
	for _, p := range pairs {
		if p.VNI == nil || *p.VNI != vniA {
			t.Fatalf("a pair of VNI %v passed the filter for %d", p.VNI, vniA)
		}
		switch p.Request.Path {
		case "/wrk":
			wrkPairs++
		case "/after-garbage":
			after = true
		}
	}
	ratio := float64(wrkPairs) / float64(requests)
	t.Logf("wrk: %d requests, %d pairs (%.4f); kernel drops %v", requests, wrkPairs, ratio, testutil.ToFloat64(metrics.KernelDrops)-drops)
	if ratio < 0.999 {
		t.Errorf("%d of wrk's %d requests came out as pairs (%.4f), want at least 99.9 %%", wrkPairs, requests, ratio)
	}
	if !after {
		t.Error("no pair for the request after the garbage: the receiver stopped working")
	}
	if n := testutil.ToFloat64(filtered) - before[flow.IgnoredVNIFiltered]; n < float64(2*requests) {
		t.Errorf("vni_filtered grew by %v, want at least VNI %d's 2 packets per request (%d requests)", n, vniB, requests)
	}
	for _, reason := range reasons {
		if n := testutil.ToFloat64(metrics.PacketsIgnored.WithLabelValues(reason)) - before[reason]; n != 1 {
			t.Errorf("%s grew by %v, want the 1 garbage datagram of that kind", reason, n)
		}
	}
}
