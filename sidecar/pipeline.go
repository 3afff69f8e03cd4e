// Package sidecar wires the capture pipeline's stages, one package each:
//
//	capture → flow (decode, shard, reassemble) → parse (http1 | http2)
//	→ pair → filter → enrich (grpc) → record (redact, encode) → sink
//
// It owns their start and stop, and only it knows them all. From flow to
// record, stages pass message's types along; capture and sink know
// none of them (flow reads capture's sources; a sink takes the encoder's
// bytes as a sink.Record). Otherwise a stage imports only shared helpers
// (config, metrics, content, internal/jsontext), the stages it builds
// (parse: the parsers and pairing) and the helpers of its own job (http2:
// grpcwire, gRPC's message framing; grpc: pbjson, protobuf to JSON; sink:
// spool, the on-disk queue). The stages tell the coverage report what
// they see through message.Tally; only this package knows its counter
// (sidecar/coverage).
package sidecar

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/coverage"
	"github.com/podtap/podtap/sidecar/filter"
	"github.com/podtap/podtap/sidecar/flow"
	"github.com/podtap/podtap/sidecar/grpc"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/pair"
	"github.com/podtap/podtap/sidecar/parse"
	"github.com/podtap/podtap/sidecar/record"
	"github.com/podtap/podtap/sidecar/sink"
	"github.com/podtap/podtap/sidecar/tlscapture"
)

// Pipeline runs captures through the stages into a sink.
type Pipeline struct {
	cfg      config.Sidecar
	filter   *filter.Filter
	enricher *grpc.Enricher
	encoder  *record.Encoder
	sink     sink.Sink
	pairing  pair.Options
	pods     PodNamer
	factory  *parse.Factory
	tally    tally
	// bufs recycles record buffers when the sink copies what it is given
	// (nil otherwise): allocating and zeroing a fresh buffer per pair cost
	// more than encoding into it.
	bufs *sync.Pool
}

// Where says where the pod is, for a pair's direction.
type Where struct {
	// PodIPs are the captured pod's addresses.
	PodIPs []netip.Addr
	// Loopback is set when capturing lo, where both ends are the pod.
	Loopback bool
	// Pods, when set, names the pod of each pair from its addresses and
	// sets its direction: the central receiver, which sees many pods.
	Pods PodNamer
}

// PodNamer names the pod a pair is about (Pair.Pod) and its direction
// from the pair's addresses. It is called on flow workers, concurrently.
type PodNamer interface{ NamePod(*message.Pair) }

// New builds a pipeline delivering to out. From the pair on, each stage
// hands a pair to the next: pair → filter → enrich → encode → sink.
func New(cfg config.Sidecar, out sink.Sink, where Where) (*Pipeline, error) {
	p := &Pipeline{cfg: cfg, pods: where.Pods, tally: tally{coverage.NewCounter()}}
	p.pairing = pair.Options{
		Pairing:      cfg.Pairing,
		MaxPairBytes: int64(cfg.Limits.MaxPairBytes),
		Direction:    pair.NewDirection(where.PodIPs, where.Loopback),
		Out:          p.paired,
		Tally:        p.tally,
	}
	p.filter = filter.New(cfg.Filter)
	enricher, err := grpc.NewEnricher(cfg.GRPC, where.PodIPs, p.filter, p.tally, p.encode)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	p.enricher = enricher
	p.encoder = record.NewEncoder(cfg.Pod, cfg.Redact, cfg.Classify)
	p.sink = out
	if c, ok := out.(sink.Copying); ok && c.CopiesValue() {
		p.bufs = &sync.Pool{New: func() any { return new([]byte) }}
	}
	// The parsers consult the filter as soon as headers are complete, so
	// that the bodies of pairs it will drop are never kept.
	p.factory = parse.NewFactory(&p.cfg, p.filter, &p.pairing)
	return p, nil
}

// Run captures from src until it ends (a file) or ctx is done (live).
// Each call starts fresh connection state; the later stages are shared, so
// several files can be replayed through one pipeline in turn.
func (p *Pipeline) Run(ctx context.Context, src capture.Source) error {
	f := flow.New(p.cfg.Flow, p.cfg.Capture.SampleRate, streams{p.factory})
	f.Decapsulate(flow.NewTunnel(p.cfg.Capture.VXLAN))
	if err := f.Run(ctx, src); err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	return nil
}

// RunTLS feeds the plaintext of TLS capture into the same stages as
// packets, from parse on, until ctx is done.
func (p *Pipeline) RunTLS(ctx context.Context, src *tlscapture.Source) error {
	p.factory.DeferTLS(src.Decrypted)
	if err := src.Run(ctx, tlsStreams{p.factory}); err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	return nil
}

// Coverage is what the pipeline saw, per server, for the coverage report.
func (p *Pipeline) Coverage() *coverage.Counter { return p.tally.c }

// Close waits for pairs still being enriched; the caller closes the sink.
func (p *Pipeline) Close() { p.enricher.Close() }

// paired runs the filter on a new pair and hands it to enrichment. It runs
// on the flow worker that owns the pair's connection.
func (p *Pipeline) paired(pr *message.Pair) {
	if reason := p.filter.Pair(pr); reason != "" {
		metrics.Drop(reason)
		p.tally.DropPair(pr, reason)
		return
	}
	if p.pods != nil {
		p.pods.NamePod(pr)
	}
	p.enricher.Enrich(pr)
}

// encode turns a finished pair into a record for the sink. Enrichment may
// call it from its own goroutines; the encoder and sink are safe for that.
func (p *Pipeline) encode(pr *message.Pair) {
	// The record holds a copy of the bodies once encoded.
	defer pr.Release()
	if p.bufs == nil {
		p.write(make([]byte, 0, 512+pr.Size()*5/4), pr)
		return
	}
	buf := p.bufs.Get().(*[]byte)
	*buf = p.write((*buf)[:0], pr)
	// A buffer grown by one huge pair is left to the collector rather
	// than kept for the small ones that follow.
	if cap(*buf) <= maxPooledRecord {
		p.bufs.Put(buf)
	}
}

// maxPooledRecord is the largest record buffer kept for reuse.
const maxPooledRecord = 256 << 10

// write encodes pr into buf and hands the record to the sink; it returns
// the buffer, grown, for reuse.
func (p *Pipeline) write(buf []byte, pr *message.Pair) []byte {
	buf, err := p.encoder.Append(buf, pr)
	if err != nil {
		metrics.Drop(metrics.ReasonEncode)
		p.tally.DropPair(pr, metrics.ReasonEncode)
		return buf
	}
	p.sink.Write(sink.Record{Value: buf, Protocol: pr.Protocol})
	p.tally.sent(pr)
	return buf
}

// streams adapts parse's factory to flow's: the same method, with flow's
// interface as the result type.
type streams struct{ f *parse.Factory }

func (s streams) NewStream(c flow.Conn) flow.Stream { return s.f.NewStream(c) }

// tlsStreams adapts parse's factory to tlscapture's.
type tlsStreams struct{ f *parse.Factory }

func (s tlsStreams) NewStream(c message.Conn) tlscapture.Stream { return s.f.NewStream(c) }
