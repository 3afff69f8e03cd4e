package sink

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar/metrics"
)

// waitSpooled waits until the sink's spool holds n unread records.
func waitSpooled(t *testing.T, k *Kafka, n int) {
	t.Helper()
	if err := eventually(t, 20*time.Second, func() error {
		if got := k.spool.Stats().Records; got != n {
			return fmt.Errorf("%d of %d records spooled", got, n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// waitDrained waits until nothing is left in the sink but delivered.
func waitDrained(t *testing.T, k *Kafka) {
	t.Helper()
	if err := eventually(t, 30*time.Second, func() error {
		st := k.spool.Stats()
		if n, _ := k.memLen(); st.Records > 0 || n > 0 || k.inflight.Load() > 0 {
			return fmt.Errorf("spool %+v, queue %d, in flight %d bytes", st, n, k.inflight.Load())
		}
		return nil
	}); err != nil {
		t.Fatalf("not drained: %v", err)
	}
}

func TestKafkaSpoolFull(t *testing.T) {
	port := testenv.FreePort(t, "127.0.0.1")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfg := kafkaConfig([]string{addr}, t.TempDir())
	cfg.Spool.MaxBytes = 256 << 10
	cfg.Spool.SegmentBytes = 64 << 10
	cfg.QueueBytes = 8 << 20
	k := startSink(t, cfg, testPod)
	before := drops()

	// A long outage: ten times the spool's bound goes by.
	const n = 3000
	for i := range n {
		k.Write(Record{Value: pairValue("checkout", i), Protocol: "http/1.1"})
		if i%100 == 99 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	lost := 0
	if err := eventually(t, 20*time.Second, func() error {
		lost = int(dropDelta(before)[metrics.ReasonSpoolFull])
		if st := k.spool.Stats(); st.Records+lost != n {
			return fmt.Errorf("%d spooled + %d dropped of %d", st.Records, lost, n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st := k.spool.Stats()
	if st.PeakBytes > int64(cfg.Spool.MaxBytes) {
		t.Fatalf("spool peaked at %d bytes, bound %d", st.PeakBytes, cfg.Spool.MaxBytes)
	}
	// What /metrics shows during the outage.
	if gauge(t, "podtap_kafka_up") != 0 || gauge(t, "podtap_kafka_spool_bytes") != float64(st.Bytes) ||
		gauge(t, "podtap_kafka_spool_segments") != float64(st.Segments) || gauge(t, "podtap_kafka_spool_records") != float64(st.Records) ||
		gauge(t, "podtap_kafka_spool_oldest_age_seconds") <= 0 || gauge(t, "podtap_kafka_queue_bytes") != 0 {
		t.Fatalf("gauges during the outage disagree with the spool %+v", st)
	}

	newCluster(t, kfake.Ports(port), kfake.SeedTopics(1, testTopic))
	waitReady(t, k, 10*time.Second)
	waitDrained(t, k)
	if gauge(t, "podtap_kafka_up") != 1 || gauge(t, "podtap_kafka_spool_records") != 0 || gauge(t, "podtap_kafka_spool_oldest_age_seconds") != 0 {
		t.Fatal("gauges after the drain")
	}
	closeSink(t, k, 10*time.Second)

	d := dropDelta(before)
	if len(d) != 1 || int(d[metrics.ReasonSpoolFull]) != lost || lost < n/2 {
		t.Fatalf("drops %v, want only spool_full = %d", d, lost)
	}
	// The oldest were dropped, the newest delivered, nothing else missing.
	got := consume(t, kafkaConfig([]string{addr}, ""), n-lost, 20*time.Second)
	for i, r := range got {
		if _, seq := seqOf(t, r.Value); seq != lost+i {
			t.Fatalf("record %d is pair %d, want %d", i, seq, lost+i)
		}
	}
	if c := topicCount(t, kafkaConfig([]string{addr}, "")); c != n-lost {
		t.Fatalf("topic holds %d records, want %d", c, n-lost)
	}
	t.Logf("spool bound %d bytes: %d of %d pairs lost, all counted spool_full", cfg.Spool.MaxBytes, lost, n)
}

const crashEnv = "PODTAP_KAFKA_CRASH_CHILD"

// TestKafkaCrashChild is the sidecar killed by TestKafkaCrashRecovers; it
// does nothing in a normal run.
func TestKafkaCrashChild(t *testing.T) {
	spec := os.Getenv(crashEnv)
	if spec == "" {
		return // only as the helper process of TestKafkaCrashRecovers
	}
	addr, dir, _ := strings.Cut(spec, ",")
	k, err := newKafka(kafkaConfig([]string{addr}, dir), testPod, testLog, fastTuning)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	const first = 3000
	for i := range first {
		k.Write(Record{Value: pairValue("checkout", i), Protocol: "http/1.1"})
	}
	for k.spool.Stats().Records < first {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("spooled", first)
	// Keep capturing until killed, so the kill lands mid-stream.
	for i := first; ; i++ {
		k.Write(Record{Value: pairValue("checkout", i), Protocol: "http/1.1"})
		time.Sleep(200 * time.Microsecond)
	}
}

func TestKafkaCrashRecovers(t *testing.T) {
	port := testenv.FreePort(t, "127.0.0.1")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKafkaCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+addr+","+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	spooled := 0
	for spooled == 0 && sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "spooled "); ok {
			spooled, _ = strconv.Atoi(n)
		} else if strings.HasPrefix(sc.Text(), "error") {
			t.Fatalf("child: %s", sc.Text())
		}
	}
	if spooled == 0 {
		t.Fatalf("child ended before spooling: %v", sc.Err())
	}
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	newCluster(t, kfake.Ports(port), kfake.SeedTopics(1, testTopic))
	cfg := kafkaConfig([]string{addr}, dir)
	k := startSink(t, cfg, testPod)
	rec := k.SpoolRecovery()
	if rec.Err() != nil || rec.Torn > 1 || rec.Records < spooled {
		t.Fatalf("recovery after kill -9: %+v", rec)
	}
	waitReady(t, k, 10*time.Second)
	waitDrained(t, k)
	closeSink(t, k, 10*time.Second)
	got := consume(t, kafkaConfig([]string{addr}, ""), rec.Records, 20*time.Second)
	for i, r := range got {
		if _, seq := seqOf(t, r.Value); seq != i {
			t.Fatalf("record %d is pair %d", i, seq)
		}
	}
	if c := topicCount(t, cfg); c != rec.Records {
		t.Fatalf("topic holds %d records, the spool recovered %d", c, rec.Records)
	}
	t.Logf("child spooled %d before the kill; %d recovered and delivered in order, %d torn", spooled, rec.Records, rec.Torn)
}

func TestKafkaCorruptSegmentSkipped(t *testing.T) {
	port := testenv.FreePort(t, "127.0.0.1")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfg := kafkaConfig([]string{addr}, t.TempDir())
	cfg.Spool.SegmentBytes = 64 << 10
	k := startSink(t, cfg, testPod)
	const n = 1000
	for i := range n {
		k.Write(Record{Value: pairValue("checkout", i), Protocol: "http/1.1"})
	}
	waitSpooled(t, k, n)
	closeSink(t, k, 5*time.Second)

	segs, _ := filepath.Glob(filepath.Join(cfg.Spool.Dir, "*.seg"))
	if len(segs) < 5 {
		t.Fatalf("%d segments", len(segs))
	}
	bad := segs[2]
	b, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}

	newCluster(t, kfake.Ports(port), kfake.SeedTopics(1, testTopic))
	before := drops()
	k = startSink(t, cfg, config.Pod{Namespace: "shop", Name: "other-pod"})
	rec := k.SpoolRecovery()
	if err := rec.Err(); err == nil || !strings.Contains(err.Error(), filepath.Base(bad)) {
		t.Fatalf("recovery error %v does not name %s", err, filepath.Base(bad))
	}
	waitReady(t, k, 10*time.Second)
	waitDrained(t, k)
	closeSink(t, k, 10*time.Second)

	got := consume(t, kafkaConfig([]string{addr}, ""), rec.Records, 20*time.Second)
	// Spooled records keep the key they were written with.
	var seqs []int
	for _, r := range got {
		if r.Key != "shop/checkout-7d9f8-x2x4q" {
			t.Fatalf("spooled record re-keyed to %q", r.Key)
		}
		_, s := seqOf(t, r.Value)
		seqs = append(seqs, s)
	}
	// Exactly one gap, the corrupt segment's records; all else in order.
	gapAt, gapLen := -1, 0
	for i := range seqs {
		want := i + gapLen
		if seqs[i] == want {
			continue
		}
		if gapAt >= 0 || seqs[i] < want {
			t.Fatalf("records out of order or a second gap at %d: %v", i, seqs[max(0, i-3):min(len(seqs), i+3)])
		}
		gapAt, gapLen = i, seqs[i]-i
	}
	if gapAt < 0 || len(seqs)+gapLen != n {
		t.Fatalf("delivered %d records with gap %d at %d, want every record of the intact segments", len(seqs), gapLen, gapAt)
	}
	if d := dropDelta(before); d[metrics.ReasonSpoolCorrupt] != float64(rec.Skipped[0].Records) || len(d) != 1 {
		t.Fatalf("drops %v, want spool_corrupt = %d", d, rec.Skipped[0].Records)
	}
	t.Logf("skipped: %v; %d records delivered, %d lost in the gap", rec.Err(), len(seqs), gapLen)
}
