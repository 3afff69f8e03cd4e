package sink

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/podtap/podtap/config"
)

// ConsumeOptions select what Consume prints.
type ConsumeOptions struct {
	// FromEnd starts at the end of the topic instead of its beginning.
	FromEnd bool
	// Follow keeps waiting for new records until ctx ends; otherwise
	// Consume returns once it has read up to the end the topic had when
	// it started.
	Follow bool
	// Max stops after this many records; 0 means no limit.
	Max int
	// ValueOnly prints each value as it is: the pair's JSON, one per line,
	// exactly as the stdout sink writes it.
	ValueOnly bool
	// Print, when set, prints each value in its own way instead (e.g.
	// coverage.WriteTable).
	Print func(w io.Writer, value []byte) error
	// Logger receives the client's warnings. Default slog.Default().
	Logger *slog.Logger
}

// ConsumedRecord is one line Consume prints (unless ValueOnly).
type ConsumedRecord struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Timestamp time.Time         `json:"timestamp"`
	Key       string            `json:"key"`
	Headers   map[string]string `json:"headers,omitempty"`
	// Value is the record's JSON as is, or a JSON string when the value
	// is not JSON.
	Value json.RawMessage `json:"value"`
}

// connectTimeout bounds the first contact, so a wrong address or bad
// credentials end Consume with an error instead of a silent wait.
const connectTimeout = 10 * time.Second

// Consume prints the records of cfg.Topic to w as JSON lines, using the
// same brokers, TLS and SASL settings as the sink.
func Consume(ctx context.Context, cfg config.Kafka, w io.Writer, opts ConsumeOptions) error {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	copts, err := clientOpts(cfg, log)
	if err != nil {
		return err
	}
	admin, err := kgo.NewClient(copts...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	start, end, err := partitionOffsets(ctx, admin, cfg.Topic)
	admin.Close()
	if err != nil {
		return fmt.Errorf("kafka %v: %w", cfg.Brokers, err)
	}

	from := make(map[int32]kgo.Offset, len(end))
	pending := make(map[int32]int64) // partition -> end offset still to reach
	for p, e := range end {
		if opts.FromEnd {
			from[p] = kgo.NewOffset().At(e)
			continue
		}
		from[p] = kgo.NewOffset().AtStart()
		if e > start[p] {
			pending[p] = e
		}
	}
	if !opts.Follow && len(pending) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(copts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: from}))...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer cl.Close()

	out := bufio.NewWriterSize(w, 256<<10)
	n := 0
	for {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return errors.Join(out.Flush(), err)
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("fetching %s[%d]: %w", t, p, err))
		})
		if ferr != nil {
			return errors.Join(out.Flush(), fmt.Errorf("kafka %v: %w", cfg.Brokers, ferr))
		}
		var werr error
		fetches.EachRecord(func(r *kgo.Record) {
			if werr != nil || (opts.Max > 0 && n >= opts.Max) {
				return
			}
			if opts.Print != nil {
				werr = opts.Print(out, r.Value)
			} else {
				werr = writeConsumed(out, r, opts.ValueOnly)
			}
			n++
			if e, ok := pending[r.Partition]; ok && r.Offset+1 >= e {
				delete(pending, r.Partition)
			}
		})
		if werr != nil {
			return fmt.Errorf("consume: writing: %w", werr)
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("consume: writing: %w", err)
		}
		if (opts.Max > 0 && n >= opts.Max) || (!opts.Follow && len(pending) == 0) {
			return nil
		}
	}
}

func writeConsumed(w *bufio.Writer, r *kgo.Record, valueOnly bool) error {
	if valueOnly {
		w.Write(r.Value)
		return w.WriteByte('\n')
	}
	line := ConsumedRecord{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Timestamp: r.Timestamp.UTC(), Key: string(r.Key),
	}
	if len(r.Headers) > 0 {
		line.Headers = make(map[string]string, len(r.Headers))
		for _, h := range r.Headers {
			line.Headers[h.Key] = string(h.Value)
		}
	}
	if json.Valid(r.Value) {
		line.Value = r.Value
	} else {
		line.Value, _ = json.Marshal(string(r.Value))
	}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	w.Write(b)
	return w.WriteByte('\n')
}

// partitionOffsets returns the first and the next offset of every
// partition of the topic.
func partitionOffsets(ctx context.Context, cl *kgo.Client, topic string) (start, end map[int32]int64, err error) {
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		return nil, nil, fmt.Errorf("no broker answers: %w", err)
	}
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(pctx, cl)
	if err != nil {
		return nil, nil, fmt.Errorf("metadata of topic %q: %w", topic, err)
	}
	if len(mresp.Topics) != 1 {
		return nil, nil, fmt.Errorf("metadata of topic %q: %d topics in the answer", topic, len(mresp.Topics))
	}
	if err := kerr.ErrorForCode(mresp.Topics[0].ErrorCode); err != nil {
		return nil, nil, fmt.Errorf("topic %q: %w", topic, err)
	}
	var parts []int32
	for _, p := range mresp.Topics[0].Partitions {
		parts = append(parts, p.Partition)
	}
	if start, err = listOffsets(pctx, cl, topic, parts, -2); err != nil {
		return nil, nil, err
	}
	if end, err = listOffsets(pctx, cl, topic, parts, -1); err != nil {
		return nil, nil, err
	}
	return start, end, nil
}

// listOffsets asks for the earliest (-2) or the latest (-1) offsets;
// franz-go routes each partition to its leader.
func listOffsets(ctx context.Context, cl *kgo.Client, topic string, parts []int32, at int64) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range parts {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = at
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("offsets of topic %q: %w", topic, err)
	}
	out := make(map[int32]int64, len(parts))
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("offsets of %s[%d]: %w", topic, p.Partition, err)
			}
			out[p.Partition] = p.Offset
		}
	}
	if len(out) != len(parts) {
		return nil, fmt.Errorf("offsets of topic %q: %d of %d partitions answered", topic, len(out), len(parts))
	}
	return out, nil
}
