package sink_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/netns"
	"github.com/podtap/podtap/internal/schematest"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/sink"
)

const (
	pipelinePairs = 10000
	pipelineTopic = "podtap.pairs"
	serverPort    = 8080
)

// recordLoopback captures n real HTTP exchanges on the loopback interface
// of a network namespace of its own (ptkf-*), so no other traffic of the
// machine can enter the capture, and writes them to a pcap file.
func recordLoopback(t *testing.T, n int) string {
	t.Helper()
	testenv.RequireNetns(t)
	pod, err := netns.NewPod("ptkf-pl", "ptkf-plh", "10.77.41.1/30", "10.77.41.2/30")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pod.Delete(); err != nil {
			t.Errorf("removing the namespace: %v", err)
		}
	})

	capCfg := config.DefaultSidecar().Capture
	capCfg.Ports = []int{serverPort}
	capCfg.RingBytes = 32 * config.MiB
	var live *capture.Live
	var ln net.Listener
	if err := pod.Do(func() (err error) {
		if live, err = capture.OpenLive("lo", capCfg); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", serverPort))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(orderHandler), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	path := filepath.Join(t.TempDir(), "loopback.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(uint32(capCfg.Snaplen), live.LinkType()); err != nil {
		t.Fatal(err)
	}
	var stop sync.WaitGroup
	var quiet time.Time
	done := make(chan struct{})
	readErr := make(chan error, 1)
	stop.Go(func() {
		for {
			data, ci, err := live.ReadPacket()
			switch {
			case errors.Is(err, capture.ErrTimeout):
				select {
				case <-done:
					if time.Since(quiet) > 500*time.Millisecond {
						readErr <- nil
						return
					}
				default:
				}
				continue
			case err != nil:
				readErr <- err
				return
			}
			if err := w.WritePacket(ci, data); err != nil {
				readErr <- err
				return
			}
		}
	})

	// Clients dial from inside the namespace; a few keep-alive connections
	// in parallel, as a pod's callers would.
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = pod.Do(func() error {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var calls sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		calls.Go(func() {
			for i := w; i < n; i += 4 {
				if err := callOrder(client, i); err != nil {
					errs <- err
					return
				}
				if i%200 == 0 {
					time.Sleep(time.Millisecond) // let the reader keep up
				}
			}
		})
	}
	calls.Wait()
	tr.CloseIdleConnections()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	quiet = time.Now()
	close(done)
	stop.Wait()
	if err := <-readErr; err != nil {
		t.Fatalf("capturing: %v", err)
	}
	st, _ := live.Stats()
	live.Close()
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if st.Drops > 0 {
		t.Fatalf("the kernel dropped %d of %d packets; the capture is incomplete", st.Drops, st.Packets)
	}
	t.Logf("captured %d packets of %d exchanges on the namespace's loopback", st.Packets, n)
	return path
}

func orderHandler(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"path":%q,"received":%d,"echo":%s}`, r.URL.Path, len(body), body)
}

func callOrder(c *http.Client, i int) error {
	body := fmt.Sprintf(`{"order":%d,"items":[%s]}`, i, strings.TrimSuffix(strings.Repeat(`{"sku":"apollo","qty":2},`, 1+i%17), ","))
	resp, err := c.Post(fmt.Sprintf("http://127.0.0.1:%d/api/orders/%d", serverPort, i), "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("order %d: status %d", i, resp.StatusCode)
	}
	return nil
}

// tee hands each record to both sinks, so the stdout lines and the Kafka
// values of one replay can be compared byte for byte. Flow workers write
// concurrently; the lock gives both sinks the same order.
type tee struct {
	mu   sync.Mutex
	a, b sink.Sink
}

func (t *tee) Write(r sink.Record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.a.Write(sink.Record{Value: bytes.Clone(r.Value), Protocol: r.Protocol})
	t.b.Write(r)
}
func (t *tee) Ready() error { return errors.Join(t.a.Ready(), t.b.Ready()) }
func (t *tee) Close(ctx context.Context) error {
	return errors.Join(t.a.Close(ctx), t.b.Close(ctx))
}

func replay(t *testing.T, cfg config.Sidecar, out sink.Sink, pcap string) {
	t.Helper()
	p, err := sidecar.New(cfg, out, sidecar.Where{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := capture.OpenFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := p.Run(context.Background(), src); err != nil {
		t.Fatalf("replay: %v", err)
	}
	p.Close()
}

// lines splits JSON lines.
func lines(b []byte) [][]byte {
	var out [][]byte
	for l := range bytes.Lines(b) {
		out = append(out, bytes.TrimSuffix(l, []byte("\n")))
	}
	return out
}

var pairID = regexp.MustCompile(`^\{"schema":"podtap\.pair/v1","id":"[0-9a-f]+"`)

// withoutID masks the pair id, the one field that differs between runs
// (a per-process prefix and a counter).
func withoutID(l []byte) string { return pairID.ReplaceAllString(string(l), "ID") }

func TestKafkaWholePipeline(t *testing.T) {
	pcap := recordLoopback(t, pipelinePairs)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, pipelineTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	cfg := config.DefaultSidecar()
	cfg.Pod = config.Pod{Namespace: "shop", Name: "orders-5c7b9-qk2lp"}
	cfg.Sink.Type = "kafka"
	cfg.Kafka.Brokers = c.ListenAddrs()
	cfg.Kafka.Topic = pipelineTopic
	cfg.Kafka.Spool.Dir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	k, err := sink.NewKafka(cfg.Kafka, cfg.Pod, log)
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	both := &tee{a: sink.NewLines(&stdout, nil), b: k}
	replay(t, cfg, both, pcap)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := both.Close(ctx); err != nil {
		t.Fatal(err)
	}
	want := lines(stdout.Bytes())
	if len(want) != pipelinePairs {
		t.Fatalf("the stdout sink printed %d pairs of the %d exchanges", len(want), pipelinePairs)
	}

	var consumed bytes.Buffer
	if err := sink.Consume(ctx, cfg.Kafka, &consumed, sink.ConsumeOptions{ValueOnly: true}); err != nil {
		t.Fatal(err)
	}
	got := lines(consumed.Bytes())
	if len(got) != len(want) {
		t.Fatalf("consumed %d records, the stdout sink printed %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d differs from the stdout line:\nkafka  %.300s\nstdout %.300s", i, got[i], want[i])
		}
	}

	// The same capture replayed again to the stdout sink alone prints the
	// same pairs (ids aside, which are per run).
	var again bytes.Buffer
	alone := sink.NewLines(&again, nil)
	replay(t, cfg, alone, pcap)
	alone.Close(ctx)
	a, b := make([]string, len(want)), lines(again.Bytes())
	if len(b) != len(want) {
		t.Fatalf("a second replay printed %d pairs, the first %d", len(b), len(want))
	}
	bs := make([]string, len(b))
	for i := range want {
		a[i], bs[i] = withoutID(want[i]), withoutID(b[i])
	}
	slices.Sort(a)
	slices.Sort(bs)
	if !slices.Equal(a, bs) {
		t.Fatal("a second replay of the capture printed different pairs")
	}

	// kcat, an independent client: key, headers, schema-valid values.
	n := 0
	for _, m := range testenv.KcatRead(t, cfg.Kafka.Brokers[0], pipelineTopic) {
		if m.Key != "shop/orders-5c7b9-qk2lp" || strings.Join(m.Headers, ",") != "schema,podtap.pair/v1,protocol,http/1.1" {
			t.Fatalf("kcat record %d: key %q headers %v", n, m.Key, m.Headers)
		}
		if m.Payload != string(want[n]) {
			t.Fatalf("kcat record %d differs from the stdout line", n)
		}
		if err := schematest.Validate([]byte(m.Payload)); err != nil {
			t.Fatalf("kcat record %d: %v", n, err)
		}
		n++
	}
	if n != pipelinePairs {
		t.Fatalf("kcat read %d records, want %d", n, pipelinePairs)
	}
}
