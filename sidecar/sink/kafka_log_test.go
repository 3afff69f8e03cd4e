package sink

import (
	"bufio"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar/metrics"
)

// logLine is one line of the text handler, its attributes by key.
type logLine struct {
	raw   string
	attrs map[string]string
}

// linesOf returns the lines of the given level and message.
func linesOf(t *testing.T, logs string, level, msg string) []logLine {
	t.Helper()
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := logLine{raw: sc.Text(), attrs: parseText(t, sc.Text())}
		if l.attrs["level"] == level && l.attrs["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// parseText splits a slog text line into key=value pairs, unquoting
// quoted values.
func parseText(t *testing.T, s string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		key := strings.TrimSpace(s[:eq])
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				t.Fatalf("log line value %q: %v", s, err)
			}
			val, _ = strconv.Unquote(q)
			s = s[len(q):]
		} else {
			end := strings.IndexByte(s, ' ')
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		m[key] = val
	}
	return m
}

// logSink starts a sink logging at INFO into the returned buffer.
func logSink(t *testing.T, cfg config.Kafka, tune tuning) (*Kafka, *testenv.LogBuffer) {
	t.Helper()
	logs := &testenv.LogBuffer{}
	k, err := newKafka(cfg, testPod, slog.New(slog.NewTextHandler(logs, nil)), tune)
	if err != nil {
		t.Fatalf("NewKafka: %v", err)
	}
	t.Cleanup(func() { closeSink(t, k, 10*time.Second) })
	waitReady(t, k, 10*time.Second)
	return k, logs
}

// writeUntil writes pairs every 2 ms until stop is closed and returns
// how many it wrote.
func writeUntil(k *Kafka, stop <-chan struct{}) <-chan int {
	n := make(chan int, 1)
	go func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		i := 0
		for {
			select {
			case <-stop:
				n <- i
				return
			case <-tick.C:
			}
			k.Write(Record{Value: pairValue("checkout", i), Protocol: "http/1.1"})
			i++
		}
	}()
	return n
}

// waitLine waits for the nth line (from 0) of the level and message.
func waitLine(t *testing.T, logs *testenv.LogBuffer, level, msg string, nth int, within time.Duration) logLine {
	t.Helper()
	var got logLine
	if err := eventually(t, within, func() error {
		ls := linesOf(t, logs.String(), level, msg)
		if len(ls) <= nth {
			return errNotYet
		}
		got = ls[nth]
		return nil
	}); err != nil {
		t.Fatalf("no %s %q line number %d within %s; the log:\n%s", level, msg, nth+1, within, logs.String())
	}
	return got
}

// expectAttrs checks a line's attributes; a want of "*" only requires the
// key, one starting with "~" requires the value to contain the rest.
func expectAttrs(t *testing.T, l logLine, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := l.attrs[k]
		switch {
		case !ok:
			t.Fatalf("line lacks %s: %s", k, l.raw)
		case v == "*":
		case strings.HasPrefix(v, "~"):
			if !strings.Contains(got, v[1:]) {
				t.Fatalf("%s=%q does not contain %q: %s", k, got, v[1:], l.raw)
			}
		case got != v:
			t.Fatalf("%s=%q, want %q: %s", k, got, v, l.raw)
		}
	}
}

// TestKafkaOutageLogUnreachable stops the cluster, so connections are
// refused: one WARN names the reason and the broker, the probes failing
// every 200 ms meanwhile add none within the reminder interval, and the
// INFO at recovery says how many records were spooled and that none was
// dropped, then another says when the spooled backlog was sent.
func TestKafkaOutageLogUnreachable(t *testing.T) {
	cluster := newRestartable(t, kfake.SeedTopics(1, testTopic))
	k, logs := logSink(t, kafkaConfig([]string{cluster.addr()}, t.TempDir()), fastTuning)
	before := drops()
	stop := make(chan struct{})
	written := writeUntil(k, stop)

	time.Sleep(500 * time.Millisecond)
	cluster.stop()
	warn := waitLine(t, logs, "WARN", msgKafkaDown, 0, 15*time.Second)
	expectAttrs(t, warn, map[string]string{
		"reason": reasonUnreachable, "brokers": cluster.addr(), "spooling": "true", "err": "~connection refused",
	})
	time.Sleep(3 * time.Second) // ~15 failed probes
	cluster.start()
	up := waitLine(t, logs, "INFO", msgKafkaUp, 1, 15*time.Second)
	close(stop)
	n := <-written
	sent := waitLine(t, logs, "INFO", "kafka spool backlog sent", 0, 30*time.Second)

	if ws := linesOf(t, logs.String(), "WARN", msgKafkaDown); len(ws) != 1 {
		t.Fatalf("%d WARN lines for one outage within the reminder interval, want 1:\n%s", len(ws), logs.String())
	}
	spooled, err := strconv.Atoi(up.attrs["kept.spooled"])
	if err != nil || spooled <= 0 || spooled > n {
		t.Fatalf("kept.spooled=%q, want between 1 and the %d records written: %s", up.attrs["kept.spooled"], n, up.raw)
	}
	expectAttrs(t, up, map[string]string{
		"reason": reasonUnreachable, "degraded_for": "*", "by": "*", "backlog_records": "*",
		"summary": fmt.Sprintf("spooled %d, dropped 0", spooled),
	})
	if _, ok := up.attrs["dropped.queue_full"]; ok {
		t.Fatalf("drops reported with a spool that holds everything: %s", up.raw)
	}
	expectAttrs(t, sent, map[string]string{"records": "*", "took": "*"})
	if d := dropDelta(before); len(d) != 0 {
		t.Fatalf("drops %v", d)
	}
	t.Logf("LOG LINES:\n%s\n%s\n%s", warn.raw, up.raw, sent.raw)
}

// TestKafkaOutageLogDropsByReason is the same outage without a spool and
// with a small queue: the recovery line counts what the full queue
// dropped, as the metric does.
func TestKafkaOutageLogDropsByReason(t *testing.T) {
	cluster := newRestartable(t, kfake.SeedTopics(1, testTopic))
	cfg := kafkaConfig([]string{cluster.addr()}, "")
	cfg.QueueBytes = 256 << 10
	cfg.MaxRecordBytes = 64 << 10
	k, logs := logSink(t, cfg, fastTuning)
	stop := make(chan struct{})
	written := writeUntil(k, stop)

	time.Sleep(500 * time.Millisecond)
	cluster.stop()
	warn := waitLine(t, logs, "WARN", msgKafkaDown, 0, 15*time.Second)
	expectAttrs(t, warn, map[string]string{"reason": reasonUnreachable, "spooling": "false"})
	before := drops()
	if err := eventually(t, 15*time.Second, func() error {
		if dropDelta(before)[metrics.ReasonQueueFull] == 0 {
			return errNotYet
		}
		return nil
	}); err != nil {
		t.Fatal("the queue never filled during the outage")
	}
	close(stop)
	<-written
	lost := dropDelta(before)[metrics.ReasonQueueFull]
	cluster.start()
	up := waitLine(t, logs, "INFO", msgKafkaUp, 1, 15*time.Second)
	dropped, err := strconv.Atoi(up.attrs["dropped.queue_full"])
	if err != nil || dropped < int(lost) {
		t.Fatalf("dropped.queue_full=%q, want at least the %d counted after the WARN: %s", up.attrs["dropped.queue_full"], int(lost), up.raw)
	}
	expectAttrs(t, up, map[string]string{
		"reason":  reasonUnreachable,
		"summary": fmt.Sprintf("dropped %d (queue_full %d)", dropped, dropped),
	})
	if ws := linesOf(t, logs.String(), "WARN", msgKafkaDown); len(ws) != 1 {
		t.Fatalf("%d WARN lines, want 1:\n%s", len(ws), logs.String())
	}
	t.Logf("LOG LINES:\n%s\n%s", warn.raw, up.raw)
}

// TestKafkaOutageLogNotAnswering has the broker stop answering produce
// requests while it still answers metadata: the WARN says not_answering
// and names the broker, the probes that succeed meanwhile neither flap
// the state nor add WARN lines, and the INFO comes with the first
// acknowledgement once the broker answers again (after the client's
// request timeout, 20 s).
func TestKafkaOutageLogNotAnswering(t *testing.T) {
	if testing.Short() && !testenv.OnCI() {
		t.Skip("SKIPPING: waits out franz-go's 20 s produce request timeout; run without -short (CI always runs it)")
	}
	c := newCluster(t, kfake.SeedTopics(1, testTopic))
	var silent atomic.Bool
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if !silent.Load() {
			return nil, nil, false
		}
		c.KeepControl()
		return nil, nil, true // no answer, the connection stays open
	})
	k, logs := logSink(t, kafkaConfig(c.ListenAddrs(), t.TempDir()), fastTuning)
	stop := make(chan struct{})
	written := writeUntil(k, stop)

	time.Sleep(500 * time.Millisecond)
	silent.Store(true)
	warn := waitLine(t, logs, "WARN", msgKafkaDown, 0, 15*time.Second)
	expectAttrs(t, warn, map[string]string{
		"reason": reasonNotAnswering, "brokers": c.ListenAddrs()[0], "err": "~no acknowledgement",
	})
	time.Sleep(3 * time.Second) // ~15 probes that get metadata
	if err := k.Ready(); err == nil {
		t.Fatal("ready while the broker answers no produce request")
	}
	silent.Store(false)
	up := waitLine(t, logs, "INFO", msgKafkaUp, 1, 40*time.Second)
	close(stop)
	<-written

	if ws := linesOf(t, logs.String(), "WARN", msgKafkaDown); len(ws) != 1 {
		t.Fatalf("%d WARN lines for one outage, want 1:\n%s", len(ws), logs.String())
	}
	if ups := linesOf(t, logs.String(), "INFO", msgKafkaUp); len(ups) != 2 { // the start, and the recovery
		t.Fatalf("%d %q lines, want 2 (start and recovery): the state flapped:\n%s", len(ups), msgKafkaUp, logs.String())
	}
	expectAttrs(t, up, map[string]string{"reason": reasonNotAnswering, "by": "acknowledgement", "summary": "~spooled "})
	t.Logf("LOG LINES:\n%s\n%s", warn.raw, up.raw)
}

// TestKafkaOutageLogReminder shortens the reminder interval to a second:
// an outage that lasts brings one more WARN per interval, carrying how
// long it has lasted and what was spooled since the previous line.
func TestKafkaOutageLogReminder(t *testing.T) {
	cluster := newRestartable(t, kfake.SeedTopics(1, testTopic))
	tune := fastTuning
	tune.remind = time.Second
	k, logs := logSink(t, kafkaConfig([]string{cluster.addr()}, t.TempDir()), tune)
	stop := make(chan struct{})
	written := writeUntil(k, stop)
	time.Sleep(500 * time.Millisecond)
	cluster.stop()
	first := waitLine(t, logs, "WARN", msgKafkaDown, 0, 15*time.Second)
	time.Sleep(2500 * time.Millisecond)
	ws := linesOf(t, logs.String(), "WARN", msgKafkaDown)
	if len(ws) < 2 || len(ws) > 3 {
		t.Fatalf("%d WARN lines 2.5 s into an outage with a 1 s reminder, want 2 or 3:\n%s", len(ws), logs.String())
	}
	reminder := ws[1]
	expectAttrs(t, reminder, map[string]string{
		"reason": reasonUnreachable, "degraded_for": "*", "repeats": "*", "kept.spooled": "*", "since_last": "~spooled ",
	})
	if r, _ := strconv.Atoi(reminder.attrs["repeats"]); r < 1 {
		t.Fatalf("repeats=%q: the probes failing every 200 ms between the lines were not counted: %s", reminder.attrs["repeats"], reminder.raw)
	}
	cluster.start()
	waitLine(t, logs, "INFO", msgKafkaUp, 1, 15*time.Second)
	close(stop)
	<-written
	t.Logf("LOG LINES:\n%s\n%s", first.raw, reminder.raw)
}
