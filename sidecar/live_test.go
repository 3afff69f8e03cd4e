package sidecar_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/netns"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/metrics"
)

// drops reads podtap_pairs_dropped_total by reason.
func drops(t testing.TB) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != "podtap_pairs_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[label(m, "reason")] = m.GetCounter().GetValue()
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// counterSum adds up a counter family over its labels.
func counterSum(t testing.TB, name string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range families {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func kernelDrops(t testing.TB) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() == "podtap_kernel_drops_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

func delta(after, before map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// livePod is a network namespace with a JSON service on port 8080 and a
// capture of one of its interfaces running through a pipeline.
type livePod struct {
	pod      *netns.Pod
	out      *collector
	pipeline *sidecar.Pipeline
	stop     context.CancelFunc
	done     chan error
}

var podSeq uint8

func newLivePod(t *testing.T, iface string, mutate func(*config.Sidecar)) *livePod {
	t.Helper()
	podSeq++
	pod := testenv.NewPod(t, "ptlv-", 214, podSeq)
	addr := pod.IP()
	if iface == "lo" {
		addr = "127.0.0.1"
	}
	var ln, raw net.Listener
	var src capture.Source
	cfg := config.DefaultSidecar()
	cfg.Capture.Ports = []int{8080, 9000}
	if mutate != nil {
		mutate(&cfg)
	}
	err := pod.Do(func() error {
		var err error
		if ln, err = net.Listen("tcp", net.JoinHostPort(addr, "8080")); err != nil {
			return err
		}
		if raw, err = net.Listen("tcp", net.JoinHostPort(addr, "9000")); err != nil {
			return err
		}
		src, err = capture.OpenLive(iface, cfg.Capture)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: jsonService(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go discard(raw)
	t.Cleanup(func() { srv.Close(); raw.Close() })

	lp := &livePod{pod: pod, out: &collector{}, done: make(chan error, 1)}
	ips := []netip.Addr{netip.MustParseAddr(pod.IP())}
	lp.pipeline, err = sidecar.New(cfg, lp.out, sidecar.Where{PodIPs: ips, Loopback: iface == "lo"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	lp.stop = cancel
	go func() { lp.done <- lp.pipeline.Run(ctx, src) }()
	t.Cleanup(func() { cancel(); src.Close() })
	return lp
}

// finish stops the capture, which flushes every connection, and returns
// the records.
func (lp *livePod) finish(t *testing.T) [][]byte {
	t.Helper()
	// Segments still in flight reach the ring within a few milliseconds.
	time.Sleep(300 * time.Millisecond)
	lp.stop()
	if err := <-lp.done; err != nil {
		t.Fatal(err)
	}
	lp.pipeline.Close()
	lp.out.mu.Lock()
	defer lp.out.mu.Unlock()
	return lp.out.records
}

// jsonService answers /items/N with a JSON body of about N bytes, /missing
// with 404 and /healthz for probes.
func jsonService() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/items/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"n":%d,"got":%d,"pad":%q}`, n, len(body), strings.Repeat("x", n))
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":"missing"}`)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	return mux
}

func discard(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c)
		}()
	}
}

// load sends total requests over conns keep-alive connections: every 97th
// is a kubelet probe and every 89th a 404, which the filter drops.
func load(t *testing.T, dial func(ctx context.Context, network, addr string) (net.Conn, error), base string, conns, total int) (probes, notFound int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	per := total / conns
	for c := range conns {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: dial, MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true,
		}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer client.CloseIdleConnections()
			for i := range per {
				seq := c*per + i
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s/items/%d", base, seq%2000), nil)
				switch {
				case seq%97 == 0:
					req, _ = http.NewRequest("GET", base+"/healthz", nil)
					req.Header.Set("User-Agent", "kube-probe/1.31")
				case seq%89 == 0:
					req, _ = http.NewRequest("GET", base+"/missing", nil)
				case seq%5 == 0:
					req, _ = http.NewRequest("POST", fmt.Sprintf("%s/items/%d", base, seq%100), strings.NewReader(`{"seq":`+strconv.Itoa(seq)+`}`))
					req.Header.Set("Content-Type", "application/json")
				}
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("load: %v", err)
	}
	for seq := range per * conns {
		switch {
		case seq%97 == 0:
			probes++
		case seq%89 == 0:
			notFound++
		}
	}
	return probes, notFound
}

// checkAccounting asserts that every request became a pair or a counted
// drop, and, without kernel drops, exactly the expected ones.
func checkAccounting(t *testing.T, records [][]byte, dropped map[string]float64, kdrops float64, total, probes, notFound int) {
	t.Helper()
	var sum float64
	for _, v := range dropped {
		sum += v
	}
	t.Logf("requests %d: pairs %d, dropped %v, kernel drops %v", total, len(records), dropped, kdrops)
	if unexplained := float64(total) - float64(len(records)) - sum; unexplained != 0 {
		t.Fatalf("%v requests unexplained (neither emitted nor counted as dropped)", unexplained)
	}
	for _, rec := range records[:min(len(records), 50)] {
		var r struct {
			Direction string `json:"direction"`
			Response  struct {
				Body map[string]any `json:"body"`
			}
		}
		if err := json.Unmarshal(rec, &r); err != nil || r.Response.Body["pad"] == nil {
			t.Fatalf("record lacks its JSON body: %v %s", err, rec)
		}
		if r.Direction != "inbound" {
			t.Fatalf("direction %q, want inbound: %s", r.Direction, rec)
		}
	}
	if kdrops > 0 {
		t.Logf("the kernel dropped %v packets: exact counts not checked", kdrops)
		return
	}
	if dropped["internal"] != float64(probes) || dropped["status"] != float64(notFound) || len(records) != total-probes-notFound {
		t.Fatalf("want %d pairs, %d internal, %d status; got %d pairs, drops %v", total-probes-notFound, probes, notFound, len(records), dropped)
	}
}

const (
	liveConns    = 50
	liveRequests = 10000
)

// TestLiveEth0 drives 10,000 requests over 50 keep-alive connections from
// the host to a pod, capturing the pod's eth0.
func TestLiveEth0(t *testing.T) {
	lp := newLivePod(t, "eth0", nil)
	before, kBefore := drops(t), kernelDrops(t)
	var d net.Dialer
	probes, notFound := load(t, d.DialContext, "http://"+net.JoinHostPort(lp.pod.IP(), "8080"), liveConns, liveRequests)
	records := lp.finish(t)
	checkAccounting(t, records, delta(drops(t), before), kernelDrops(t)-kBefore, liveRequests, probes, notFound)
}

// TestLiveLoopback runs client and server inside the pod and captures lo,
// as under a service mesh: each packet is seen twice on lo, once counted.
func TestLiveLoopback(t *testing.T) {
	lp := newLivePod(t, "lo", nil)
	before, kBefore := drops(t), kernelDrops(t)
	probes, notFound := load(t, lp.pod.DialContext, "http://127.0.0.1:8080", liveConns, liveRequests)
	records := lp.finish(t)
	checkAccounting(t, records, delta(drops(t), before), kernelDrops(t)-kBefore, liveRequests, probes, notFound)
}

// TestLiveBadInput sends random bytes, truncated requests and a 100 MB
// line without a newline at the pod, then good traffic: nothing crashes,
// memory stays within the configured caps, and the good traffic is paired.
func TestLiveBadInput(t *testing.T) {
	lp := newLivePod(t, "eth0", nil)
	host := lp.pod.IP()
	parseErrors := counterSum(t, "podtap_parse_errors_total")
	send := func(port string, payload func(net.Conn) error) {
		c, err := net.Dial("tcp", net.JoinHostPort(host, port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := payload(c); err != nil {
			t.Logf("send: %v", err)
		}
	}
	for range 20 {
		send("8080", func(c net.Conn) error {
			junk := make([]byte, 4096)
			_, _ = rand.Read(junk)
			_, err := c.Write(junk)
			return err
		})
		send("8080", func(c net.Conn) error {
			_, err := io.WriteString(c, "POST /items/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nContent-Type: application/json\r\n\r\n{\"cut")
			return err
		})
		send("8080", func(c net.Conn) error {
			_, err := io.WriteString(c, "GET /items/1 HTTP/1.1\r\nHost: x\r\nX-Cut: ")
			return err
		})
	}

	var peak uint64
	sampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-sampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	// The line starts like a request, so the HTTP/1 parser, not protocol
	// detection, is what must refuse to keep it.
	send("9000", func(c net.Conn) error {
		if _, err := io.WriteString(c, "GET /"); err != nil {
			return err
		}
		line := []byte(strings.Repeat("A", 64<<10))
		for sent := 0; sent < 100<<20; sent += len(line) {
			if _, err := c.Write(line); err != nil {
				return err
			}
		}
		return nil
	})
	close(sampling)
	<-sampled

	var d net.Dialer
	probes, notFound := load(t, d.DialContext, "http://"+net.JoinHostPort(host, "8080"), 5, 500)
	records := lp.finish(t)
	if want := 500 - probes - notFound; len(records) < want*9/10 {
		t.Fatalf("after bad input only %d of %d good pairs", len(records), want)
	}
	cfg := config.DefaultSidecar()
	// The capture may hold its whole reassembly budget, plus a header
	// block per connection; anything near 100 MB means a line was kept.
	bound := uint64(cfg.Flow.MaxBufferBytes) + 32<<20
	growth := peak - min(peak, base.HeapInuse)
	t.Logf("heap growth during the 100 MB line: %d MiB (bound %d MiB); pairs %d", growth>>20, bound>>20, len(records))
	if got := counterSum(t, "podtap_parse_errors_total") - parseErrors; got == 0 {
		t.Fatal("random bytes and an endless line were not counted as parse errors")
	}
	if growth > bound {
		t.Fatalf("heap grew %d MiB during a 100 MB line without newline; bound %d MiB", growth>>20, bound>>20)
	}
}
