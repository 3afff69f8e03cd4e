package sink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// health is whether Kafka takes records now. It goes down when a probe
// fails, a send fails for a reason that is not the record's own, or no
// acknowledgement comes for tune.stallAfter; it comes back with the first
// acknowledgement, or a successful probe while no window waits for one.
type health struct {
	mu      sync.Mutex
	up      bool
	err     error
	since   time.Time // of the last change
	lastAck time.Time
	connErr error // the last failed connection, for context in readiness
	saslErr error // the last authentication the broker cut short
	brokers map[string]*brokerSeen
	changed chan struct{}
}

// brokerSeen is what the client hooks last saw of one broker, so the log
// can name the brokers at fault rather than the whole list.
type brokerSeen struct {
	connErr error
	// produceSent is when a produce request was written that has no
	// answer yet; zero when none waits.
	produceSent time.Time
}

func (h *health) init(initial error) {
	h.err, h.since, h.changed = initial, time.Now(), make(chan struct{})
	h.brokers = map[string]*brokerSeen{}
}

// broker returns the record of the broker at meta's address. Called with
// mu held.
func (h *health) broker(meta kgo.BrokerMetadata) *brokerSeen {
	addr := net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port)))
	b := h.brokers[addr]
	if b == nil {
		b = &brokerSeen{}
		h.brokers[addr] = b
	}
	return b
}

// faulty lists the brokers whose last connection failed or that left a
// produce request unanswered for longer than after, sorted.
func (h *health) faulty(after time.Duration) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for addr, b := range h.brokers {
		if b.connErr != nil || b.waiting(after) {
			out = append(out, addr)
		}
	}
	slices.Sort(out)
	return out
}

// silent lists the brokers that left a produce request unanswered for
// longer than after, sorted.
func (h *health) silent(after time.Duration) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for addr, b := range h.brokers {
		if b.waiting(after) {
			out = append(out, addr)
		}
	}
	slices.Sort(out)
	return out
}

func (b *brokerSeen) waiting(after time.Duration) bool {
	return !b.produceSent.IsZero() && time.Since(b.produceSent) > after
}

func (h *health) ok() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.up
}

func (h *health) problem() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.up {
		return nil
	}
	return h.err
}

// wait returns a channel closed at the next change.
func (h *health) wait() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changed
}

// state returns the state with the channel closed at its next change, read
// together so that no change can slip between the two.
func (h *health) state() (up bool, changed <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.up, h.changed
}

// set records the state and reports whether it changed.
func (h *health) set(up bool, err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !up {
		h.err = err
	}
	if h.up == up {
		return false
	}
	h.up, h.since = up, time.Now()
	if up {
		h.err = nil
	}
	close(h.changed)
	h.changed = make(chan struct{})
	return true
}

// acked notes an acknowledgement, the surest sign Kafka is up.
func (h *health) acked() (changed bool) {
	h.mu.Lock()
	h.lastAck = time.Now()
	up := h.up
	h.mu.Unlock()
	if up {
		return false
	}
	return h.set(true, nil)
}

// stalled reports whether nothing was acknowledged since max(start, the
// last acknowledgement, the last change) for longer than after.
func (h *health) stalled(start time.Time, after time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	last := start
	if h.lastAck.After(last) {
		last = h.lastAck
	}
	if h.since.After(last) {
		last = h.since
	}
	return time.Since(last) > after
}

func (h *health) sinceAck() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Since(h.lastAck)
}

func (h *health) lastConnErr() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.saslErr != nil {
		return h.saslErr
	}
	return h.connErr
}

// connHook keeps the last connection error: "connection refused" says
// more than "no acknowledgement". A broker may answer bad credentials by
// closing the connection, which the client sees as a bare EOF; reading
// that EOF in reply to SASL authentication names the cause. It also tells
// the buffer gate of produce answers and records placed in partitions.
type connHook struct {
	h    *health
	gate *bufferGate
	mech string
}

func (c connHook) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.h.connErr = err
	c.h.broker(meta).connErr = err
	if err == nil {
		c.h.saslErr = nil
	}
}

// OnBrokerWrite and OnBrokerRead tell a broker that stops answering
// produce requests from one that is merely slow to be reached.
func (c connHook) OnBrokerWrite(meta kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key != int16(kmsg.Produce) || err != nil {
		return
	}
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	if b := c.h.broker(meta); b.produceSent.IsZero() {
		b.produceSent = time.Now()
	}
}

func (c connHook) OnBrokerRead(meta kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == int16(kmsg.Produce) {
		c.gate.answer()
		c.h.mu.Lock()
		c.h.broker(meta).produceSent = time.Time{}
		c.h.mu.Unlock()
	}
	if err == nil || key != int16(kmsg.SASLAuthenticate) {
		return
	}
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.h.saslErr = downError{reasonAuth, fmt.Errorf("SASL %s authentication failed, the broker closed the connection: check kafka.sasl credentials: %w", c.mech, err)}
}

// OnBrokerDisconnect forgets a produce request left unanswered: the
// client sends it again on a new connection.
func (c connHook) OnProduceRecordPartitioned(r *kgo.Record, _ int32) { c.gate.placed(r) }

func (c connHook) OnBrokerDisconnect(meta kgo.BrokerMetadata, _ net.Conn) {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.h.broker(meta).produceSent = time.Time{}
}

// probeLoop checks Kafka while it is down, and while it is up but idle,
// so readiness is true without traffic to prove it.
func (k *Kafka) probeLoop() {
	defer k.wg.Done()
	for {
		k.probeOnce()
		every := k.tune.idleProbe
		if !k.health.ok() {
			every = k.tune.probeEvery
		}
		select {
		case <-k.stop:
			return
		case <-time.After(every):
		}
	}
}

func (k *Kafka) probeOnce() {
	up := k.health.ok()
	if up && k.health.sinceAck() < k.tune.idleProbe {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.tune.probeTimeout)
	defer cancel()
	go func() {
		select {
		case <-k.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := k.probe(ctx)
	if err == nil && !up {
		// Metadata and produce requests travel on separate connections:
		// a broker may answer one and not the other. While a window waits
		// for its records, only their acknowledgement proves Kafka back;
		// taking the probe for it would flap between the two states when
		// the client is slow to send them again (it refreshes metadata at
		// most every 5 s).
		if silent := k.health.silent(k.silentAfter()); len(silent) > 0 {
			err = downError{reasonNotAnswering, fmt.Errorf("kafka %v: broker %s answers metadata but not a produce request sent over %s ago",
				k.cfg.Brokers, strings.Join(silent, ", "), k.silentAfter())}
		} else if k.awaiting.Load() {
			return
		}
	}
	switch {
	case err == nil && !up:
		k.markUp("probe")
	case err != nil && (!up || k.health.sinceAck() > k.tune.idleProbe):
		k.markDown(err)
	}
}

// probe asks a broker for the topic's metadata: it proves the address,
// TLS and SASL, and that the topic is there with a leader for every
// partition. It creates the topic when kafka.create_topic allows.
func (k *Kafka) probe(ctx context.Context) error {
	if err := k.client.Ping(ctx); err != nil {
		if cerr := k.health.lastConnErr(); cerr != nil && cerr.Error() != err.Error() {
			err = fmt.Errorf("%w (last connection error: %w)", err, cerr)
		}
		return downError{reasonOf(err), fmt.Errorf("kafka %v: no broker answers: %w", k.cfg.Brokers, err)}
	}
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(k.cfg.Topic)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, k.client)
	if err != nil {
		return downError{reasonOf(err), fmt.Errorf("kafka %v: metadata of topic %q: %w", k.cfg.Brokers, k.cfg.Topic, err)}
	}
	if err := k.checkTopic(ctx, resp); err != nil {
		if _, ok := errors.AsType[downError](err); ok {
			return err
		}
		return downError{reasonTopic, err}
	}
	return nil
}

// checkTopic says what keeps records from the topic in its metadata, and
// creates it when kafka.create_topic allows.
func (k *Kafka) checkTopic(ctx context.Context, resp *kmsg.MetadataResponse) error {
	if len(resp.Topics) != 1 {
		return fmt.Errorf("kafka %v: metadata of topic %q: %d topics in the answer", k.cfg.Brokers, k.cfg.Topic, len(resp.Topics))
	}
	rt := resp.Topics[0]
	if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			if k.cfg.CreateTopic {
				return k.createTopic(ctx)
			}
			return fmt.Errorf("kafka %v: topic %q does not exist and kafka.create_topic is off", k.cfg.Brokers, k.cfg.Topic)
		}
		return fmt.Errorf("kafka %v: topic %q: %w", k.cfg.Brokers, k.cfg.Topic, err)
	}
	for _, p := range rt.Partitions {
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil && !errors.Is(err, kerr.ReplicaNotAvailable) {
			return fmt.Errorf("kafka %v: topic %q partition %d: %w", k.cfg.Brokers, k.cfg.Topic, p.Partition, err)
		}
		if p.Leader < 0 {
			return fmt.Errorf("kafka %v: topic %q partition %d has no leader", k.cfg.Brokers, k.cfg.Topic, p.Partition)
		}
	}
	return nil
}

// createTopic creates the topic with the brokers' default partitions and
// replication; the topic settings are the cluster's business.
func (k *Kafka) createTopic(ctx context.Context) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic = k.cfg.Topic
	t.NumPartitions = -1
	t.ReplicationFactor = -1
	req.Topics = append(req.Topics, t)
	req.TimeoutMillis = int32(k.tune.probeTimeout.Milliseconds())
	resp, err := req.RequestWith(ctx, k.client)
	if err != nil {
		return fmt.Errorf("kafka %v: creating topic %q: %w", k.cfg.Brokers, k.cfg.Topic, err)
	}
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("kafka %v: creating topic %q: %w", k.cfg.Brokers, k.cfg.Topic, err)
		}
	}
	k.log.Info("kafka topic created", "topic", k.cfg.Topic)
	// The new topic's leaders are elected asynchronously; the next probe
	// confirms them before records flow.
	return downError{reasonTopicCreated, fmt.Errorf("kafka %v: topic %q created, waiting for its leaders", k.cfg.Brokers, k.cfg.Topic)}
}
