// Package synth makes the bench's captures: real HTTP/1.1 and gRPC clients
// talk to real servers over loopback, every byte they write and read is
// recorded, and the records are laid into the TCP segments a capture on
// loopback would hold (written with pcapgen). Captures are cached by what
// shapes their content.
package synth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/podtap/podtap/internal/grpcdemo"
)

// generatorVersion changes whenever the generator's output would, so that
// cached captures of an older generator are not reused.
const generatorVersion = 2

// Spec is one generated capture: HTTP/1.1 or gRPC traffic.
type Spec struct {
	Name string       `json:"name"`
	HTTP *HTTPTraffic `json:"http,omitempty"`
	GRPC *GRPCTraffic `json:"grpc,omitempty"`
}

// Pairs is the number of exchanges (HTTP) or calls (gRPC) it holds.
func (s Spec) Pairs() int {
	if s.GRPC != nil {
		return s.GRPC.Calls
	}
	return s.HTTP.Pairs
}

// Specs are the bench's captures, full-size or --quick.
func Specs(quick bool) []Spec {
	if quick {
		return []Spec{
			{Name: "mixed", HTTP: &HTTPTraffic{Pairs: 2000, Clients: 8, ConnsPerClient: 3, PostPerMille: 104, ChunkedPerMille: 100}},
			{Name: "small", HTTP: &HTTPTraffic{Pairs: 2000, Clients: 8, ConnsPerClient: 3, BodySize: 1024, PostPerMille: 104}},
			{Name: "grpc", GRPC: &GRPCTraffic{Calls: 1000, Conns: 2, Concurrency: 8, BlobBytes: 256}},
			{Name: "many-conns", HTTP: &HTTPTraffic{Pairs: 1000, OpenConns: 500, BodySize: 512, PostPerMille: 104}},
		}
	}
	return []Spec{
		// Like the anchor capture: 200,000 pairs, 10.4% POSTs, bodies of
		// 100 B – 64 KiB, 64 keep-alive clients going through about 200
		// connections.
		{Name: "mixed", HTTP: &HTTPTraffic{Pairs: 200000, Clients: 64, ConnsPerClient: 3, PostPerMille: 104, ChunkedPerMille: 100}},
		{Name: "small", HTTP: &HTTPTraffic{Pairs: 200000, Clients: 64, ConnsPerClient: 3, BodySize: 1024, PostPerMille: 104}},
		{Name: "grpc", GRPC: &GRPCTraffic{Calls: 50000, Conns: 4, Concurrency: 16, BlobBytes: 256}},
		{Name: "many-conns", HTTP: &HTTPTraffic{Pairs: 30000, OpenConns: 10000, BodySize: 512, PostPerMille: 104}},
	}
}

// Capture is a generated capture file with what it holds.
type Capture struct {
	Spec  Spec  `json:"spec"`
	Stats Stats `json:"stats"`
	// Path is the pcap file; Protoset, for gRPC, the service's
	// descriptors (what a sidecar would get by reflection).
	Path     string `json:"-"`
	Protoset string `json:"-"`
	// GenerateSeconds is how long the generation took (0 when cached).
	GenerateSeconds float64 `json:"-"`
}

// key names a capture by everything that shapes its content.
func (s Spec) key() string {
	b, _ := json.Marshal(struct {
		V    int
		Spec Spec
	}{generatorVersion, s})
	sum := sha256.Sum256(b)
	return s.Name + "-" + hex.EncodeToString(sum[:6])
}

// Ensure returns the cached capture of spec, generating it first if
// the cache lacks it.
func Ensure(ctx context.Context, dir string, spec Spec) (Capture, error) {
	base := filepath.Join(dir, spec.key())
	c := Capture{Spec: spec, Path: base + ".pcap"}
	if spec.GRPC != nil {
		c.Protoset = base + ".protoset"
	}
	meta, err := os.ReadFile(base + ".json")
	if err == nil {
		if err := json.Unmarshal(meta, &c); err != nil {
			return c, fmt.Errorf("reading %s.json: %w", base, err)
		}
		if _, err := os.Stat(c.Path); err == nil {
			return c, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return c, err
	}
	slog.Info("generating capture", "name", spec.Name, "pairs", spec.Pairs(), "path", c.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return c, fmt.Errorf("cache: %w", err)
	}
	start := time.Now()
	if c.Stats, err = generate(ctx, spec, c.Path, c.Protoset); err != nil {
		return c, fmt.Errorf("generating %s: %w", spec.Name, err)
	}
	c.GenerateSeconds = time.Since(start).Seconds()
	meta, err = json.Marshal(c)
	if err != nil {
		return c, err
	}
	if err := os.WriteFile(base+".json", meta, 0o644); err != nil {
		return c, fmt.Errorf("cache: %w", err)
	}
	return c, nil
}

// generate records spec's traffic into path (via a temporary file, so an
// interrupted generation leaves no capture behind).
func generate(ctx context.Context, spec Spec, path, protoset string) (Stats, error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return Stats{}, err
	}
	defer os.Remove(tmp)
	seed := uint64(len(spec.key()))
	var stats Stats
	if spec.GRPC != nil {
		stats, err = recordGRPC(ctx, *spec.GRPC, f, seed)
	} else {
		stats, err = recordHTTP(ctx, *spec.HTTP, f, seed)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return stats, err
	}
	if protoset != "" {
		if err := writeProtoset(protoset); err != nil {
			return stats, err
		}
	}
	return stats, os.Rename(tmp, path)
}

func writeProtoset(path string) error {
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		return err
	}
	set, err := schema.DescriptorSet(true)
	if err != nil {
		return err
	}
	return os.WriteFile(path, set, 0o644)
}
