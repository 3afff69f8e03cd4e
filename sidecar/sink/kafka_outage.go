package sink

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/podtap/podtap/sidecar/statelog"
)

// Why Kafka is down, as the WARN line's reason= names it: a short word to
// grep for, the error carries the details.
const (
	reasonUnreachable  = "unreachable"   // no connection: refused, reset, no route, no such host
	reasonNotAnswering = "not_answering" // connected, but no answer in time
	reasonAuth         = "auth"          // TLS or SASL refused, on either side
	reasonTopic        = "topic"         // the topic is missing or has no leader
	reasonError        = "error"         // any other error a broker returned
	// reasonTopicCreated is the probe that created the topic; the next one
	// tells whether its leaders came, so it is not worth a WARN alone.
	reasonTopicCreated = "topic_created"
)

// Messages of the outage's log lines.
const (
	msgKafkaDown = "kafka unavailable"
	msgKafkaUp   = "kafka available"
	// keptSpooled counts the records the spool took during an outage.
	keptSpooled = "spooled"
)

// downError is an error that knows which reason it is.
type downError struct {
	reason string
	err    error
}

func (d downError) Error() string { return d.err.Error() }
func (d downError) Unwrap() error { return d.err }

// reasonOf sorts an error that took Kafka down into one of the reasons.
func reasonOf(err error) string {
	if d, ok := errors.AsType[downError](err); ok {
		return d.reason
	}
	op, isOp := errors.AsType[*net.OpError](err)
	_, isDNS := errors.AsType[*net.DNSError](err)
	_, isCert := errors.AsType[*tls.CertificateVerificationError](err)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), isDNS, isOp && op.Op == "dial":
		return reasonUnreachable
	case isCert, isOp && op.Op == "remote error", errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.UnsupportedSaslMechanism),
		errors.Is(err, kerr.IllegalSaslState):
		return reasonAuth
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return reasonNotAnswering
	}
	return reasonError
}

// newOutage is the outage state of a sink logging to log.
func newOutage(log *slog.Logger, remind time.Duration) *statelog.State {
	return statelog.New(statelog.Config{Log: log, Degraded: msgKafkaDown, Recovered: msgKafkaUp, Remind: remind})
}

// markDown takes Kafka down. Every failed probe and send comes here; the
// outage state decides what is worth a line.
func (k *Kafka) markDown(err error) {
	changed := k.health.set(false, err)
	if reason := reasonOf(err); reason != reasonTopicCreated {
		k.outage.Degrade(reason, "brokers", k.brokersAtFault(), "spooling", k.spool != nil, "err", err)
	}
	if changed {
		kick(k.spillKick)
	}
}

func (k *Kafka) markUp(how string) {
	if k.health.set(true, nil) {
		k.recovered(how)
	}
}

// recovered logs Kafka back: the outage's totals if there was one, and
// the backlog still to send, whose end backlogSent reports.
func (k *Kafka) recovered(how string) {
	args := []any{"by", how}
	queued, _ := k.memLen()
	args = append(args, "queued_records", queued)
	if k.spool != nil {
		st := k.spool.Stats()
		args = append(args, "backlog_records", st.Records, "backlog_bytes", st.Bytes)
		k.backlog.start(st.Records)
	}
	if k.outage.Degraded() {
		k.outage.Recover(args...)
	} else {
		k.log.Info(msgKafkaUp, args...)
	}
	kick(k.sendKick)
}

// stallReason is why acknowledgements stopped: the last connection's
// failure when there is one, else a broker that does not answer.
func stallReason(connErr error) string {
	if connErr != nil {
		if r := reasonOf(connErr); r != reasonError {
			return r
		}
	}
	return reasonNotAnswering
}

// silentAfter is how long a produce request may wait for its answer
// before its broker counts as not answering. A broker that works answers
// in milliseconds; half the stall time leaves the probe no window in which
// to take a silent broker for up.
func (k *Kafka) silentAfter() time.Duration { return k.tune.stallAfter / 2 }

// brokersAtFault names the brokers the client hooks saw fail, or the
// configured ones when none is known yet.
func (k *Kafka) brokersAtFault() string {
	if bad := k.health.faulty(k.silentAfter()); len(bad) > 0 {
		return strings.Join(bad, ",")
	}
	return strings.Join(k.cfg.Brokers, ",")
}

// backlog follows the records spooled during an outage until they are
// sent, so the log says when the sink has caught up.
type backlog struct {
	mu      sync.Mutex
	records int
	since   time.Time
}

func (b *backlog) start(records int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if records > 0 && b.records == 0 {
		b.records, b.since = records, time.Now()
	}
}

// backlogSent logs once the spool that held records at a recovery is
// empty. The spiller calls it at every tick.
func (k *Kafka) backlogSent() {
	if k.spool == nil || !k.health.ok() {
		return
	}
	k.backlog.mu.Lock()
	defer k.backlog.mu.Unlock()
	if k.backlog.records == 0 {
		return
	}
	if st := k.spool.Stats(); st.Records > 0 || st.Segments > 0 {
		return
	}
	k.log.Info("kafka spool backlog sent", "records", k.backlog.records, "took", time.Since(k.backlog.since).Round(time.Millisecond))
	k.backlog.records = 0
}
