package sink

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/sink/spool"
	"github.com/podtap/podtap/sidecar/statelog"
)

// Record headers every Kafka record carries.
const (
	HeaderSchema   = "schema"
	HeaderProtocol = "protocol"
	SchemaVersion  = "podtap.pair/v1"
)

// Kafka ships records to a Kafka topic through an idempotent producer
// (acks=all). Records wait in a memory queue bounded in bytes; while Kafka
// is unreachable or slower than capture, they move to an on-disk spool,
// which is sent first, oldest first, when Kafka is back, so the order per
// key holds. Without a spool, what does not fit the queue is dropped.
//
// Records go out in windows: a window is produced, and the next one waits
// until every record of it is acknowledged or failed. That costs little
// throughput (a window is up to a quarter of the queue) and makes failures
// simple: franz-go fails the whole rest of a partition when one batch is
// rejected, and with one window in flight, buffered whole before any of it
// is sent, those records can be sent again in their order before anything
// newer.
type Kafka struct {
	cfg       config.Kafka
	log       *slog.Logger
	client    *kgo.Client
	spool     *spool.Spool
	recovery  spool.Recovery
	key       []byte
	maxRecord int64
	limits    limits
	tune      tuning
	health    health
	outage    *statelog.State
	backlog   backlog
	headers   sync.Map // protocol -> []kgo.RecordHeader, shared read-only

	qmu      sync.Mutex // guards the memory queue
	memq     []*entry
	memHead  int
	memBytes int64
	closing  bool
	// inflight is the bytes of records taken out of the queue and spool
	// that are not delivered yet: the window and the retry groups.
	inflight atomic.Int64
	// awaiting is true while a produced window waits for its promises.
	awaiting atomic.Bool
	gate     bufferGate

	// omu orders the sender's choice between spool and queue against the
	// spiller moving queue records to the spool, so a record never
	// overtakes an older one on its way to Kafka.
	omu sync.Mutex

	// Owned by the sender goroutine; read by Close after it has stopped.
	cur   *window
	retry [][]*entry
	// windowCap is the window's byte cap, lowered when Kafka rejects
	// batches as too large (the topic's max.message.bytes is below
	// kafka.max_record_bytes) and raised again as windows succeed.
	windowCap int64

	sendKick  chan struct{}
	spillKick chan struct{}
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
	limiter   logLimiter
}

// limits derived from the configuration.
type limits struct {
	queueBytes    int64
	highWater     int64 // the queue spills to the spool above this
	lowWater      int64 // down to this
	windowBytes   int64
	windowRecords int
}

// tuning holds timings; tests shorten them.
type tuning struct {
	stallAfter   time.Duration // no acknowledgement for this long: Kafka is down
	probeEvery   time.Duration // probe period while Kafka is down
	idleProbe    time.Duration // probe period while up but idle
	probeTimeout time.Duration
	spillTick    time.Duration
	remind       time.Duration // least time between two WARN lines of one outage
}

var defaultTuning = tuning{
	stallAfter:   5 * time.Second,
	probeEvery:   time.Second,
	idleProbe:    10 * time.Second,
	probeTimeout: 5 * time.Second,
	spillTick:    200 * time.Millisecond,
	remind:       statelog.DefaultRemind,
}

// entry is one record on its way.
type entry struct {
	rec      *kgo.Record
	protocol string
	size     int64
	spooled  bool // read from the spool; ref acknowledges it there
	ref      spool.Ref
	state    atomic.Int32
	err      error // written by the promise before state
}

const (
	statePending int32 = iota
	stateOK
	stateFailed
)

// recordOverhead approximates the bytes Kafka adds around a record in a
// batch of one: the batch header and the record's varints.
const recordOverhead = 128

// NewKafka starts the Kafka sink. It fails only on configuration that can
// never work (a malformed broker address, an unreadable CA or secret file,
// a spool directory it cannot use); an unreachable cluster or rejected
// credentials show in Ready while records are kept.
func NewKafka(cfg config.Kafka, pod config.Pod, log *slog.Logger) (*Kafka, error) {
	return newKafka(cfg, pod, log, defaultTuning)
}

func newKafka(cfg config.Kafka, pod config.Pod, log *slog.Logger, tune tuning) (*Kafka, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("sink", "kafka")
	if cfg.Topic == "" {
		return nil, errors.New("kafka.topic: empty")
	}
	if cfg.QueueBytes <= 0 {
		return nil, fmt.Errorf("kafka.queue_bytes: %d is not accepted; want a positive size", cfg.QueueBytes)
	}
	if cfg.MaxRecordBytes <= 0 {
		return nil, fmt.Errorf("kafka.max_record_bytes: %d is not accepted; want a positive size", cfg.MaxRecordBytes)
	}
	if cfg.QueueBytes < cfg.MaxRecordBytes {
		return nil, fmt.Errorf("kafka.queue_bytes: %s is not accepted; want at least kafka.max_record_bytes (%s), or the largest records never fit", cfg.QueueBytes, cfg.MaxRecordBytes)
	}
	codec, err := compression(cfg.Compression)
	if err != nil {
		return nil, err
	}
	key, err := recordKey(pod)
	if err != nil {
		return nil, err
	}
	k := &Kafka{
		cfg: cfg, log: log, key: []byte(key), tune: tune,
		maxRecord: int64(cfg.MaxRecordBytes),
		limits: limits{
			queueBytes:    int64(cfg.QueueBytes),
			highWater:     int64(cfg.QueueBytes) / 2,
			lowWater:      int64(cfg.QueueBytes) / 4,
			windowBytes:   max(int64(cfg.QueueBytes)/4, 1),
			windowRecords: 10000,
		},
		sendKick:  make(chan struct{}, 1),
		spillKick: make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	k.windowCap = k.limits.windowBytes
	k.health.init(fmt.Errorf("kafka %v: connecting", cfg.Brokers))
	k.outage = newOutage(log, tune.remind)

	opts, err := clientOpts(cfg, log)
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(codec, kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(int32(min(max(int64(cfg.MaxRecordBytes), 512), 1<<30))),
		// A window is buffered before it is flushed (see produce).
		kgo.ManualFlushing(),
		// One produce request in flight per broker, so the batches behind
		// a refused one are still held, and failed with it, not written.
		kgo.MaxProduceRequestsInflightPerBroker(1),
		kgo.MaxBufferedRecords(2*k.limits.windowRecords),
		kgo.WithHooks(connHook{h: &k.health, gate: &k.gate, mech: cfg.SASL.Mechanism}),
	)
	if cfg.CreateTopic {
		opts = append(opts, kgo.AllowAutoTopicCreation())
	}

	if cfg.Spool.Dir != "" {
		if err := k.openSpool(cfg.Spool); err != nil {
			return nil, err
		}
	}
	if k.client, err = kgo.NewClient(opts...); err != nil {
		if k.spool != nil {
			k.spool.Close()
		}
		return nil, fmt.Errorf("kafka: %w", err)
	}
	live.add(k)
	k.wg.Add(3)
	go k.sendLoop()
	go k.spillLoop()
	go k.probeLoop()
	return k, nil
}

func compression(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "zstd", "":
		return kgo.ZstdCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "none":
		return kgo.NoCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf(`kafka.compression: %q is not accepted; want "zstd", "lz4", "snappy", "gzip" or "none"`, name)
}

// recordKey is "namespace/pod" from the downward API; outside Kubernetes
// the host name stands in for the pod (in a pod the two are the same).
func recordKey(pod config.Pod) (string, error) {
	name := pod.Name
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("kafka: record key: no pod.name and no host name: %w", err)
		}
		name = h
	}
	if pod.Namespace != "" {
		return pod.Namespace + "/" + name, nil
	}
	return name, nil
}

func (k *Kafka) openSpool(c config.Spool) error {
	policy, err := spool.ParseFsync(c.Fsync)
	if err != nil {
		return fmt.Errorf("kafka.spool.fsync: %w", err)
	}
	sp, rec, err := spool.Open(spool.Options{
		Dir:            c.Dir,
		MaxBytes:       int64(c.MaxBytes),
		SegmentBytes:   int64(c.SegmentBytes),
		Fsync:          policy,
		FsyncInterval:  c.FsyncInterval,
		MaxRecordBytes: int(k.maxRecord) + 64<<10,
		Logger:         k.log,
	})
	if err != nil {
		return fmt.Errorf("kafka.spool: %w", err)
	}
	k.spool, k.recovery = sp, rec
	if rec.Torn > 0 {
		spoolTorn.Add(float64(rec.Torn))
		metrics.PairsDropped.WithLabelValues(metrics.ReasonSpoolCorrupt).Add(float64(rec.Torn))
		k.log.Warn("spool: truncated records torn by a crash", "dir", c.Dir, "records", rec.Torn)
	}
	for _, s := range rec.Skipped {
		spoolCorrupt.Inc()
		metrics.PairsDropped.WithLabelValues(metrics.ReasonSpoolCorrupt).Add(float64(s.Records))
		k.log.Error("spool: corrupt segment skipped", "err", s)
	}
	if rec.Cursor != nil {
		k.log.Warn("spool: delivery cursor unreadable; records may be sent twice", "err", rec.Cursor)
	}
	if rec.Records > 0 {
		k.log.Info("spool: records kept from the previous run", "dir", c.Dir, "records", rec.Records, "segments", rec.Segments)
	}
	return nil
}

// SpoolRecovery reports what the spool found at start: torn records and
// corrupt segments, each error naming its file.
func (k *Kafka) SpoolRecovery() spool.Recovery { return k.recovery }

// Write queues a record; it never waits for Kafka or the disk.
func (k *Kafka) Write(r Record) {
	e := k.newEntry(r.Value, r.Protocol)
	if k.oversized(e) {
		return
	}
	k.qmu.Lock()
	if k.closing {
		k.qmu.Unlock()
		k.drop(metrics.ReasonShutdown, 1)
		return
	}
	if k.memBytes+k.inflight.Load()+e.size > k.limits.queueBytes {
		k.qmu.Unlock()
		k.drop(metrics.ReasonQueueFull, 1)
		return
	}
	k.memq = append(k.memq, e)
	k.memBytes += e.size
	over := k.memBytes > k.limits.highWater
	k.qmu.Unlock()
	kick(k.sendKick)
	if over || !k.health.ok() {
		kick(k.spillKick)
	}
}

func (k *Kafka) newEntry(value []byte, protocol string) *entry {
	hs, ok := k.headers.Load(protocol)
	if !ok {
		hs, _ = k.headers.LoadOrStore(protocol, []kgo.RecordHeader{
			{Key: HeaderSchema, Value: []byte(SchemaVersion)},
			{Key: HeaderProtocol, Value: []byte(protocol)},
		})
	}
	headers := hs.([]kgo.RecordHeader)
	rec := &kgo.Record{Key: k.key, Value: value, Headers: headers, Timestamp: time.Now()}
	return &entry{rec: rec, protocol: protocol, size: recordSize(rec)}
}

// oversized drops a record over kafka.max_record_bytes, the producer's
// batch limit, which no retry could send: counted and logged, never queued.
// Records may be larger than limits.max_pair_bytes, which counts the pair
// before base64 and JSON escaping.
func (k *Kafka) oversized(e *entry) bool {
	if e.size <= k.maxRecord {
		return false
	}
	k.drop(metrics.ReasonKafkaTooLarge, 1)
	if k.limiter.allow("max_record_bytes") {
		k.log.Warn("record larger than kafka.max_record_bytes; dropped",
			"reason", metrics.ReasonKafkaTooLarge, "bytes", e.size, "max_record_bytes", k.maxRecord)
	}
	return true
}

func recordSize(r *kgo.Record) int64 {
	n := len(r.Key) + len(r.Value) + recordOverhead
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return int64(n)
}

// Ready is nil while Kafka takes records; otherwise it says why not.
func (k *Kafka) Ready() error {
	if k.closed.Load() {
		return errors.New("kafka sink: closed")
	}
	return k.health.problem()
}

func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// takeMem moves up to the given bytes and records from the head of the
// memory queue to the in-flight count; the first record is always taken.
func (k *Kafka) takeMem(maxBytes int64, maxRecords int) []*entry {
	k.qmu.Lock()
	defer k.qmu.Unlock()
	var out []*entry
	var n int64
	for k.memHead < len(k.memq) && len(out) < maxRecords {
		e := k.memq[k.memHead]
		if len(out) > 0 && n+e.size > maxBytes {
			break
		}
		k.memq[k.memHead] = nil
		k.memHead++
		n += e.size
		out = append(out, e)
	}
	k.memBytes -= n
	k.inflight.Add(n)
	k.compactMem()
	return out
}

// compactMem reclaims the consumed head of the queue. Called with qmu held.
func (k *Kafka) compactMem() {
	if k.memHead == len(k.memq) {
		k.memq, k.memHead = k.memq[:0], 0
		return
	}
	if k.memHead > 1024 && k.memHead > len(k.memq)/2 {
		n := copy(k.memq, k.memq[k.memHead:])
		clear(k.memq[n:])
		k.memq, k.memHead = k.memq[:n], 0
	}
}

func (k *Kafka) memLen() (int, int64) {
	k.qmu.Lock()
	defer k.qmu.Unlock()
	return len(k.memq) - k.memHead, k.memBytes
}

// release takes a settled record out of the in-flight count.
func (k *Kafka) release(e *entry) { k.inflight.Add(-e.size) }

// logLimiter lets one message per key through per interval, so a failing
// disk or a broker rejecting every record does not flood the log.
type logLimiter struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (l *logLimiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = make(map[string]time.Time)
	}
	if t, ok := l.last[key]; ok && time.Since(t) < 10*time.Second {
		return false
	}
	l.last[key] = time.Now()
	return true
}

// compile-time check that Kafka is a Sink.
var _ Sink = (*Kafka)(nil)
