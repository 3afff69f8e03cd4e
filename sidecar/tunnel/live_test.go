package tunnel_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/sink"
	"github.com/podtap/podtap/sidecar/tunnel"
)

// TestTunnelThroughKernelVXLAN runs the tunnel sender in a pod's network
// namespace, capturing its eth0, towards a kernel vxlan link in the same
// namespace (the real peer: the kernel decapsulates, as a receiver would).
// The same traffic is parsed twice, from eth0 (parse in the pod) and from
// what the vxlan link delivers (what a receiver gets), and both must give
// the same pairs. The responses are larger than one segment, so the
// sender's cutting of offloaded TCP packets is on the path.
//
// A second sender feeds podtap's own VXLAN receiver (capture.source vxlan)
// on another port of the namespace, which must give the same pairs too.
func TestTunnelThroughKernelVXLAN(t *testing.T) {
	pod := testenv.NewPod(t, "pttn-", 219, 1)
	const vni = 7331
	for _, args := range [][]string{
		{"link", "add", "vx0", "type", "vxlan", "id", fmt.Sprint(vni), "dstport", fmt.Sprint(config.VXLANPort), "local", "127.0.0.1", "nolearning"},
		{"link", "set", "vx0", "up"},
	} {
		if out, err := pod.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	body := strings.Repeat("x", 6000)
	ln, err := pod.Listen("tcp", ":8080")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"pad":%q}`, r.URL.Path, body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	capCfg := config.DefaultSidecar().Capture
	capCfg.Ports = []int{8080}
	rxCfg := capCfg
	rxCfg.Source = config.SourceVXLAN
	rxCfg.VXLAN.Port = receiverPort
	rxCfg.VXLAN.VNIs = []int{vni}
	var sendSrc, sendRxSrc, parseSrc, tunnelSrc *capture.Live
	var rxSrc *capture.VXLAN
	err = pod.Do(func() error {
		var err error
		if sendSrc, err = capture.OpenLive("eth0", capCfg); err != nil {
			return err
		}
		if sendRxSrc, err = capture.OpenLive("eth0", capCfg); err != nil {
			return err
		}
		if rxSrc, err = capture.OpenVXLAN(rxCfg); err != nil {
			return err
		}
		if parseSrc, err = capture.OpenLive("eth0", capCfg); err != nil {
			return err
		}
		tunnelSrc, err = capture.OpenLive("vx0", capCfg)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := config.DefaultSidecar()
	cfg.Mode = config.ModeTunnel
	cfg.Tunnel.Target = fmt.Sprintf("127.0.0.1:%d", config.VXLANPort)
	cfg.Tunnel.VNI = vni
	sentBefore := counter(t, "podtap_tunnel_datagrams_total")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := pod.Do(func() error { return tunnel.New(cfg.Tunnel).Run(ctx, sendSrc) }); err != nil {
			t.Errorf("sender: %v", err)
		}
	}()
	toReceiver := cfg.Tunnel
	toReceiver.Target = fmt.Sprintf("127.0.0.1:%d", receiverPort)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := pod.Do(func() error { return tunnel.New(toReceiver).Run(ctx, sendRxSrc) }); err != nil {
			t.Errorf("sender to the receiver: %v", err)
		}
	}()
	dir := t.TempDir()
	ip := netip.MustParseAddr(pod.IP())
	run := func(name string, cfg config.Sidecar, src capture.Source) {
		out, err := sink.File(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		p, err := sidecar.New(cfg, out, sidecar.Where{PodIPs: []netip.Addr{ip}})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Run(ctx, src); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			p.Close()
			_ = out.Close(context.Background())
		}()
	}
	run("parse", cfg, parseSrc)
	run("tunnel", cfg, tunnelSrc)
	rx := cfg
	rx.Mode, rx.Capture = config.ModeParse, rxCfg
	run("receiver", rx, rxSrc)

	const requests = 60
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range requests {
		if i%2 == 1 {
			client.Transport = &http.Transport{DisableKeepAlives: true}
		}
		resp, err := client.Get(fmt.Sprintf("http://%s:8080/item/%d", pod.IP(), i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	time.Sleep(1500 * time.Millisecond)
	cancel()
	wg.Wait()
	for _, s := range []capture.Source{sendSrc, sendRxSrc, parseSrc, tunnelSrc, rxSrc} {
		s.Close()
	}

	parsed, tunnelled := pairs(t, filepath.Join(dir, "parse")), pairs(t, filepath.Join(dir, "tunnel"))
	if len(parsed) != requests {
		t.Fatalf("parse in the pod gave %d pairs, want %d", len(parsed), requests)
	}
	if !slices.Equal(parsed, tunnelled) {
		t.Fatalf("traffic decapsulated by the kernel gave %d pairs, different from the %d parsed in the pod:\n%v\n%v", len(tunnelled), len(parsed), tunnelled, parsed)
	}
	if received := pairs(t, filepath.Join(dir, "receiver")); !slices.Equal(parsed, received) {
		t.Fatalf("podtap's VXLAN receiver gave %d pairs, different from the %d parsed in the pod:\n%v\n%v", len(received), len(parsed), received, parsed)
	}
	if sent := counter(t, "podtap_tunnel_datagrams_total") - sentBefore; sent < requests {
		t.Errorf("%v datagrams sent for %d requests", sent, requests)
	}
	if counter(t, "podtap_tunnel_segmented_packets_total") == 0 {
		t.Logf("no captured packet needed cutting (no offload on this veth)")
	} else {
		t.Logf("%v captured packets cut into segments", counter(t, "podtap_tunnel_segmented_packets_total"))
	}
}

// receiverPort is where podtap's receiver listens in the test's namespace,
// apart from the kernel vxlan link's 4789.
const receiverPort = 47890

// pairs reads a record file as sorted "direction method path status
// response-bytes client-port" lines: what must agree between the two paths.
func pairs(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var r struct {
			Direction string
			Client    struct{ Port int }
			Request   struct{ Method, Path string }
			Response  struct {
				Status int
				Body   json.RawMessage
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, fmt.Sprintf("%s %s %s %d %d %d", r.Direction, r.Request.Method, r.Request.Path, r.Response.Status, len(r.Response.Body), r.Client.Port))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// counter reads a metric's total, over its labels, from the registry.
func counter(t testing.TB, name string) float64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
