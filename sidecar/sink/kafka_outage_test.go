package sink

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/testenv"
)

// restartableCluster is a one-broker kfake cluster on a fixed port whose
// state lives in a directory, so it can be stopped and brought back.
type restartableCluster struct {
	t    *testing.T
	port int
	dir  string
	mu   sync.Mutex
	c    *kfake.Cluster
}

func newRestartable(t *testing.T, opts ...kfake.Opt) *restartableCluster {
	r := &restartableCluster{t: t, port: testenv.FreePort(t, "127.0.0.1"), dir: t.TempDir()}
	r.start(opts...)
	t.Cleanup(r.stop)
	return r
}

func (r *restartableCluster) addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
}

func (r *restartableCluster) start(opts ...kfake.Opt) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	// The port was just released; retry briefly in case the kernel has
	// not let go of it yet.
	for range 50 {
		r.c, err = kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.Ports(r.port), kfake.DataDir(r.dir)}, opts...)...)
		if err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("kfake on port %d: %v", r.port, err)
}

func (r *restartableCluster) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c != nil {
		r.c.Close()
		r.c = nil
	}
}

// checkExactlyOnceInOrder checks that every key's records are its pairs
// 0..n-1, each once, in order.
func checkExactlyOnceInOrder(t *testing.T, got []ConsumedRecord, keys []string, n int) {
	t.Helper()
	next := map[string]int{}
	for _, r := range got {
		pod, seq := seqOf(t, r.Value)
		key := "shop/" + pod
		if r.Key != key {
			t.Fatalf("record of %s carries key %q", pod, r.Key)
		}
		if seq != next[key] {
			t.Fatalf("key %s: pair %d arrived where %d was due (duplicate, loss or reordering)", key, seq, next[key])
		}
		next[key]++
	}
	for _, k := range keys {
		if next[k] != n {
			t.Fatalf("key %s: %d of %d pairs arrived", k, next[k], n)
		}
	}
}

func TestKafkaOutage(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("SKIPPING: the outage lasts 31 s; run without -short (CI always runs it)")
	}
	cluster := newRestartable(t, kfake.SeedTopics(3, testTopic))
	const perPod = 10000
	pods := []string{"cart", "checkout"}
	var sinks []*Kafka
	for _, p := range pods {
		cfg := kafkaConfig([]string{cluster.addr()}, t.TempDir())
		cfg.QueueBytes = 2 << 20 // far less than the outage's records
		cfg.Spool.SegmentBytes = 256 << 10
		k := startSink(t, cfg, config.Pod{Namespace: "shop", Name: p})
		waitReady(t, k, 10*time.Second)
		sinks = append(sinks, k)
	}
	before := drops()

	// 20,000 pairs over ~40 s; the cluster is away from 5 s to 36 s.
	var wg sync.WaitGroup
	for i, k := range sinks {
		wg.Go(func() {
			tick := time.NewTicker(4 * time.Millisecond)
			defer tick.Stop()
			for n := range perPod {
				<-tick.C
				k.Write(Record{Value: pairValue(pods[i], n), Protocol: "http/1.1"})
			}
		})
	}
	time.Sleep(5 * time.Second)
	cluster.stop()
	stopped := time.Now()
	t.Logf("cluster stopped")
	if eventually(t, 10*time.Second, func() error {
		for _, k := range sinks {
			if k.Ready() == nil {
				return errNotYet
			}
		}
		return nil
	}) != nil {
		t.Fatal("a sink still reports ready with the cluster stopped")
	}
	t.Logf("readiness during the outage: %v", sinks[0].Ready())
	time.Sleep(31*time.Second - time.Since(stopped))
	cluster.start()
	t.Logf("cluster back after %s", time.Since(stopped).Round(time.Millisecond))
	wg.Wait()

	var peak [2]int64
	for i, k := range sinks {
		waitReady(t, k, 20*time.Second)
		if err := eventually(t, 60*time.Second, func() error {
			st := k.spool.Stats()
			if n, _ := k.memLen(); st.Records > 0 || st.Segments > 0 || n > 0 || k.inflight.Load() > 0 {
				return fmt.Errorf("spool %+v, queue %d", st, n)
			}
			return nil
		}); err != nil {
			t.Fatalf("sink %s did not drain: %v", pods[i], err)
		}
		peak[i] = k.spool.Stats().PeakBytes
		closeSink(t, k, 10*time.Second)
	}
	t.Logf("OUTAGE NUMBERS: 20000 pairs, cluster away %s; spool peak bytes: %s=%d, %s=%d",
		31*time.Second, pods[0], peak[0], pods[1], peak[1])
	if peak[0] < 1<<20 || peak[1] < 1<<20 {
		t.Fatalf("spool peaks %v: the outage's records did not go through the spool", peak)
	}
	if d := dropDelta(before); len(d) != 0 {
		t.Fatalf("drops %v", d)
	}
	cfg := kafkaConfig([]string{cluster.addr()}, "")
	got := consume(t, cfg, 2*perPod, 30*time.Second)
	checkExactlyOnceInOrder(t, got, []string{"shop/cart", "shop/checkout"}, perPod)
	if n := topicCount(t, cfg); n != 2*perPod {
		t.Fatalf("topic holds %d records, want %d", n, 2*perPod)
	}
}

// TestKafkaCloseDuringOutage is SIGTERM while Kafka is away: records in
// flight and queued go to the spool within the grace period, and the next
// start delivers them, in order.
func TestKafkaCloseDuringOutage(t *testing.T) {
	cluster := newRestartable(t, kfake.SeedTopics(1, testTopic))
	cfg := kafkaConfig([]string{cluster.addr()}, t.TempDir())
	k := startSink(t, cfg, testPod)
	waitReady(t, k, 10*time.Second)
	before := drops()

	const n = 6000
	written := make(chan int)
	go func() {
		for i := range n {
			k.Write(Record{Value: pairValue("checkout", i), Protocol: "http/1.1"})
			if i == n/2 {
				written <- i
			}
			time.Sleep(100 * time.Microsecond)
		}
		close(written)
	}()
	<-written
	cluster.stop()
	for range written {
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := k.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Close took %s with a 3s deadline", took)
	}
	if d := dropDelta(before); len(d) != 0 {
		t.Fatalf("drops %v: everything fits the spool", d)
	}

	cluster.start()
	k = startSink(t, cfg, testPod)
	waitReady(t, k, 10*time.Second)
	waitDrained(t, k)
	closeSink(t, k, 10*time.Second)
	total := topicCount(t, cfg)
	got := consume(t, kafkaConfig([]string{cluster.addr()}, ""), total, 20*time.Second)
	// Records in flight at the stop may have reached Kafka before it went
	// away and are then sent again: at least once, and the first copy of
	// every pair comes in order.
	next := 0
	for _, r := range got {
		_, seq := seqOf(t, r.Value)
		switch {
		case seq == next:
			next++
		case seq > next:
			t.Fatalf("pair %d arrived before pair %d", seq, next)
		}
	}
	if next != n {
		t.Fatalf("%d of %d pairs arrived", next, n)
	}
	t.Logf("%d records for %d pairs (%d sent twice after the restart)", total, n, total-n)
}
