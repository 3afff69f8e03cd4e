package capture_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/netns"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/flow"
	"github.com/podtap/podtap/sidecar/metrics"
)

// Live tests run in network namespaces named ptfx-*, joined to the host by
// veth pairs addressed in 10.203.0.0/16; all traffic stays inside them.

func newPod(t *testing.T, n uint8) *netns.Pod {
	t.Helper()
	return testenv.NewPod(t, "ptfx-", 203, n)
}

// countingConn counts what a server connection reads and writes, the truth
// the capture is compared with.
type countingConn struct {
	net.Conn
	read, written *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(int64(n))
	return n, err
}

type countingListener struct {
	net.Listener
	read, written atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: c, read: &l.read, written: &l.written}, nil
}

// serve runs a real net/http server on addr inside the pod. Its listening
// socket stays in the namespace while the server runs from ordinary
// goroutines: simpler than a helper process under `ip netns exec`, and its
// failures are this test's.
func serve(t *testing.T, pod *netns.Pod, addr string) *countingListener {
	t.Helper()
	l, err := pod.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: l}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"path":%q,"pad":%q}`, r.URL.Path, strings.Repeat("x", 3000))
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.Serve(cl)
	t.Cleanup(func() { srv.Close() })
	return cl
}

// client returns an HTTP client that dials from inside pod (nil: from the
// host) and never uses a proxy from the environment.
func client(pod *netns.Pod, keepAlive bool) *http.Client {
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: !keepAlive}
	if pod != nil {
		tr.DialContext = pod.DialContext
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"path"`)) {
		t.Fatalf("GET %s: %v %d %q", url, err, resp.StatusCode, body)
	}
}

func liveConfig(ports, exclude []int) config.Capture {
	c := config.DefaultSidecar().Capture
	c.Ports = ports
	c.ExcludePorts = exclude
	c.RingBytes = 2 * config.MiB
	return c
}

// openIn opens a live capture from inside pod (nil: the host).
func openIn(t *testing.T, pod *netns.Pod, iface string, cfg config.Capture) *capture.Live {
	t.Helper()
	var src *capture.Live
	open := func() (err error) {
		src, err = capture.OpenLive(iface, cfg)
		return err
	}
	var err error
	if pod != nil {
		err = pod.Do(open)
	} else {
		err = open()
	}
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// recording collects what flow delivers from a live capture.
type recording struct {
	mu    sync.Mutex
	conns []*liveStream
}

type liveStream struct {
	rec   *recording
	conn  flow.Conn
	data  [2]bytes.Buffer
	ended bool
}

func (r *recording) NewStream(c flow.Conn) flow.Stream {
	s := &liveStream{rec: r, conn: c}
	r.mu.Lock()
	r.conns = append(r.conns, s)
	r.mu.Unlock()
	return s
}

func (s *liveStream) Data(d flow.Side, b []byte, _ time.Time) {
	s.rec.mu.Lock()
	s.data[d].Write(b)
	s.rec.mu.Unlock()
}
func (s *liveStream) Gap(flow.Side, int, time.Time) {}
func (s *liveStream) Tick(time.Time)                {}
func (s *liveStream) End(time.Time) {
	s.rec.mu.Lock()
	s.ended = true
	s.rec.mu.Unlock()
}
func (s *liveStream) Ignored() bool { return false }

// toward returns all bytes sent to port, over every connection.
func (r *recording) toward(port uint16) (toServer, fromServer []byte, conns int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.conns {
		switch port {
		case s.conn.B.Port:
			toServer = append(toServer, s.data[flow.AtoB].Bytes()...)
			fromServer = append(fromServer, s.data[flow.BtoA].Bytes()...)
		case s.conn.A.Port:
			toServer = append(toServer, s.data[flow.BtoA].Bytes()...)
			fromServer = append(fromServer, s.data[flow.AtoB].Bytes()...)
		default:
			continue
		}
		conns++
	}
	return toServer, fromServer, conns
}

// runFlow runs src through flow until the returned stop is called.
func runFlow(t *testing.T, src capture.Source, workers int) (*recording, func()) {
	t.Helper()
	rec := &recording{}
	cfg := config.DefaultSidecar().Flow
	cfg.Workers = workers
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- flow.New(cfg, 1, rec).Run(ctx, src) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("flow: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("flow did not stop within 10s of its context ending")
			}
			src.Close()
		})
	}
	t.Cleanup(stop)
	return rec, stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkExchanges asserts that n requests and n responses, each once, were
// captured toward port.
func checkExchanges(t *testing.T, name string, rec *recording, port uint16, n int) {
	t.Helper()
	waitFor(t, name+" to capture every exchange", func() bool {
		_, fromServer, _ := rec.toward(port)
		return bytes.Count(fromServer, []byte(`"pad"`)) >= n
	})
	toServer, fromServer, _ := rec.toward(port)
	for i := range n {
		if c := bytes.Count(toServer, fmt.Appendf(nil, "GET /hello/%d HTTP/1.1\r\n", i)); c != 1 {
			t.Errorf("%s: request %d captured %d times", name, i, c)
		}
		if c := bytes.Count(fromServer, fmt.Appendf(nil, `{"path":"/hello/%d"`, i)); c != 1 {
			t.Errorf("%s: response %d captured %d times", name, i, c)
		}
	}
	if c := bytes.Count(fromServer, []byte("HTTP/1.1 200 OK\r\n")); c != n {
		t.Errorf("%s: %d status lines, want %d", name, c, n)
	}
}

// TestLiveVeth captures one exchange of requests from the host to a server
// in a namespace on both ends of the veth pair: the host side, and the
// namespace's eth0 (opened inside the namespace, as the sidecar does).
func TestLiveVeth(t *testing.T) {
	pod := newPod(t, 1)
	addr := net.JoinHostPort(pod.IP(), "8080")
	serve(t, pod, addr)
	host := openIn(t, nil, pod.Host, liveConfig([]int{8080}, nil))
	inside := openIn(t, pod, "eth0", liveConfig(nil, nil))
	hostRec, stopHost := runFlow(t, host, 2)
	podRec, stopPod := runFlow(t, inside, 2)

	const n = 8
	c := client(nil, true)
	for i := range n {
		get(t, c, fmt.Sprintf("http://%s/hello/%d", addr, i))
	}
	c.CloseIdleConnections()
	checkExchanges(t, "host side", hostRec, 8080, n)
	checkExchanges(t, "pod eth0", podRec, 8080, n)

	if st, err := host.Stats(); err != nil || st.Packets < 2*n {
		t.Errorf("host capture stats %+v, %v: want the exchanges counted", st, err)
	}
	stopHost()
	stopPod()
	for _, rec := range []*recording{hostRec, podRec} {
		for _, s := range rec.conns {
			if !s.ended {
				t.Errorf("%v: no End after the capture stopped", s.conn)
			}
		}
	}
}

// TestLiveLoopbackOnce captures lo inside a namespace, with client and
// server both there. The kernel shows a packet socket every loopback packet
// twice (leaving and arriving); the capture must deliver each segment once.
func TestLiveLoopbackOnce(t *testing.T) {
	pod := newPod(t, 2)
	srv := serve(t, pod, "127.0.0.1:8081")
	raw := openIn(t, pod, "lo", liveConfig([]int{8081}, nil))
	forFlow := openIn(t, pod, "lo", liveConfig([]int{8081}, nil))
	rec, stopFlow := runFlow(t, forFlow, 2)

	type segKey struct {
		sport, dport uint16
		seq          uint32
	}
	var (
		mu      sync.Mutex
		seen    = map[segKey]int{}
		payload = map[bool]int{} // by "toward the server"
	)
	readDone := make(chan struct{})
	stopRaw := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			select {
			case <-stopRaw:
				return
			default:
			}
			data, _, err := raw.ReadPacket()
			if errors.Is(err, capture.ErrTimeout) {
				continue
			}
			if err != nil {
				t.Errorf("reading lo: %v", err)
				return
			}
			pkt := gopacket.NewPacket(data, raw.LinkType(), gopacket.Default)
			tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if tcp == nil || len(tcp.Payload) == 0 {
				continue
			}
			mu.Lock()
			seen[segKey{uint16(tcp.SrcPort), uint16(tcp.DstPort), tcp.Seq}]++
			payload[tcp.DstPort == 8081] += len(tcp.Payload)
			mu.Unlock()
		}
	}()

	const n = 6
	c := client(pod, true)
	for i := range n {
		get(t, c, fmt.Sprintf("http://127.0.0.1:8081/hello/%d", i))
	}
	c.CloseIdleConnections()
	waitFor(t, "the raw capture to see every byte", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return int64(payload[true]) >= srv.read.Load() && int64(payload[false]) >= srv.written.Load()
	})
	checkExchanges(t, "lo", rec, 8081, n)
	close(stopRaw)
	<-readDone
	raw.Close()
	stopFlow()

	mu.Lock()
	defer mu.Unlock()
	for k, c := range seen {
		if c != 1 {
			t.Errorf("segment %+v captured %d times", k, c)
		}
	}
	if int64(payload[true]) != srv.read.Load() || int64(payload[false]) != srv.written.Load() {
		t.Errorf("captured %d bytes to and %d from the server; it read %d and wrote %d",
			payload[true], payload[false], srv.read.Load(), srv.written.Load())
	}
}

// TestLivePortFilter checks the kernel filter: traffic on a port that is
// not captured, or is excluded, never reaches flow.
func TestLivePortFilter(t *testing.T) {
	pod := newPod(t, 3)
	for _, p := range []string{"8080", "8081", "8082"} {
		serve(t, pod, net.JoinHostPort(pod.IP(), p))
	}
	// 8082 is captured by both and requested last: once it is seen, any
	// earlier packet that passed a filter has been delivered (one worker
	// keeps the ring's order).
	withExclude := openIn(t, nil, pod.Host, liveConfig([]int{8080, 8081, 8082}, []int{8081}))
	onlyListed := openIn(t, nil, pod.Host, liveConfig([]int{8081, 8082}, nil))
	exRec, stopEx := runFlow(t, withExclude, 1)
	listRec, stopList := runFlow(t, onlyListed, 1)

	c := client(nil, false)
	for _, p := range []string{"8080", "8081", "8082"} {
		get(t, c, "http://"+net.JoinHostPort(pod.IP(), p)+"/hello/0")
	}
	for name, rec := range map[string]*recording{"exclude": exRec, "listed": listRec} {
		waitFor(t, name+" to see the last request", func() bool {
			_, from, _ := rec.toward(8082)
			return bytes.Contains(from, []byte(`"pad"`))
		})
	}
	stopEx()
	stopList()
	for _, tc := range []struct {
		name string
		rec  *recording
		port uint16
		want bool
	}{
		{"exclude", exRec, 8080, true},
		{"exclude", exRec, 8081, false},
		{"listed", listRec, 8080, false},
		{"listed", listRec, 8081, true},
	} {
		_, from, conns := tc.rec.toward(tc.port)
		if got := conns > 0; got != tc.want {
			t.Errorf("%s capture: %d connections on port %d, want captured=%v", tc.name, conns, tc.port, tc.want)
		}
		if tc.want && !bytes.Contains(from, []byte(`"path":"/hello/0"`)) {
			t.Errorf("%s capture: response on port %d not delivered", tc.name, tc.port)
		}
	}
}

// TestLiveKernelDrops fills a small ring that nobody reads: the kernel
// drops what does not fit, and Stats reports it and adds it to the metric.
func TestLiveKernelDrops(t *testing.T) {
	pod := newPod(t, 5)
	addr := net.JoinHostPort(pod.IP(), "8080")
	serve(t, pod, addr)
	cfg := liveConfig([]int{8080}, nil)
	cfg.RingBytes = config.MiB
	src := openIn(t, nil, pod.Host, cfg)
	defer src.Close()
	before := testutil.ToFloat64(metrics.KernelDrops)
	c := client(nil, true)
	for i := range 400 {
		get(t, c, fmt.Sprintf("http://%s/hello/%d", addr, i))
	}
	c.CloseIdleConnections()
	st, err := src.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Drops == 0 || st.Packets <= st.Drops {
		t.Fatalf("stats %+v after 400 exchanges into an unread 1 MiB ring, want drops", st)
	}
	if got := testutil.ToFloat64(metrics.KernelDrops) - before; got != float64(st.Drops) {
		t.Errorf("kernel drops metric grew by %v, stats say %d", got, st.Drops)
	}
	var logs bytes.Buffer
	watch := capture.NewDropWatch(slog.New(slog.NewTextHandler(&logs, nil)), src)
	watch.Observe(st)
	if warn := fmt.Sprintf(`level=WARN msg="kernel dropping packets" reason=ring_full dropped=%d of_packets=%d`, st.Drops, st.Packets); !strings.Contains(logs.String(), warn) {
		t.Errorf("log after the drops:\n%s\nwant a line with %s", logs.String(), warn)
	}
	// A second poll adds only what is new, not the total again.
	st2, err := src.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(metrics.KernelDrops) - before; got != float64(st2.Drops) {
		t.Errorf("kernel drops metric grew by %v after a second poll, stats say %d", got, st2.Drops)
	}
	// Nothing is sent any more: a poll soon finds no new drops, and the
	// watch logs their end with the total.
	for prev, quiet := st, false; !quiet; prev = st2 {
		logs.Reset()
		watch.Observe(st2)
		if quiet = st2.Drops == prev.Drops; quiet {
			const info = `level=INFO msg="kernel drops stopped" reason=ring_full`
			if !strings.Contains(logs.String(), info) || !strings.Contains(logs.String(), fmt.Sprintf("dropped.ring_full=%d", st2.Drops)) {
				t.Errorf("log after a poll without drops:\n%s\nwant %s with dropped.ring_full=%d", logs.String(), info, st2.Drops)
			}
			continue
		}
		if st2, err = src.Stats(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenLiveNoInterface(t *testing.T) {
	_, err := capture.OpenLive("ptfx-missing0", liveConfig(nil, nil))
	if err == nil {
		t.Fatal("no error for a missing interface")
	}
	msg := err.Error()
	for _, want := range []string{`"ptfx-missing0"`, "lo", "--interface", "capture.interface"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not mention %s", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("%q is not one line", msg)
	}
}

// TestOpenLiveNoCapNetRaw opens a capture on a thread that dropped
// CAP_NET_RAW, as a container without it would, and expects the fix in
// the error.
func TestOpenLiveNoCapNetRaw(t *testing.T) {
	testenv.RequireNetns(t)
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread loses a capability, so it must end
		// with this goroutine rather than run anything else.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var caps [2]unix.CapUserData
		if err := unix.Capget(&hdr, &caps[0]); err != nil {
			errc <- fmt.Errorf("capget: %w", err)
			return
		}
		caps[0].Effective &^= 1 << unix.CAP_NET_RAW
		if err := unix.Capset(&hdr, &caps[0]); err != nil {
			errc <- fmt.Errorf("capset: %w", err)
			return
		}
		src, err := capture.OpenLive("lo", liveConfig(nil, nil))
		if err == nil {
			src.Close()
			errc <- errors.New("OpenLive succeeded without CAP_NET_RAW")
			return
		}
		errc <- err
	}()
	err := <-errc
	msg := err.Error()
	if !strings.Contains(msg, "capabilities.add: [NET_RAW]") || strings.Contains(msg, "\n") {
		t.Errorf("error %q does not say to add NET_RAW on one line", msg)
	}
}
