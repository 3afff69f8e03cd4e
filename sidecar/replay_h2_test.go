package sidecar_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/podtap/podtap/internal/schematest"
)

// stream is what the HTTP/2 comparison checks of one stream.
type stream struct {
	Method, Path string
	Status       int
	// GRPCStatus is -1 when there is none; ReqMsgs and RespMsgs are -1
	// for a stream that is not gRPC.
	GRPCStatus, ReqMsgs, RespMsgs int
	Upgrade                       bool
}

func (s stream) String() string {
	out := fmt.Sprintf("%s %s %d", s.Method, s.Path, s.Status)
	if s.ReqMsgs >= 0 {
		out += fmt.Sprintf(" grpc-status=%d messages=%d/%d", s.GRPCStatus, s.ReqMsgs, s.RespMsgs)
	}
	if s.Upgrade {
		out += " (h2c upgrade, stream 1)"
	}
	return out
}

func (s stream) same(o stream) bool {
	return s.Method == o.Method && s.Path == o.Path && s.Status == o.Status &&
		s.GRPCStatus == o.GRPCStatus && s.ReqMsgs == o.ReqMsgs && s.RespMsgs == o.RespMsgs
}

// h2Truth reads tshark's HTTP/2 streams of a capture, and its HTTP/1
// exchanges other than the upgrades to h2c (those are stream 1 there).
func h2Truth(t *testing.T, rel string) (streams []stream, http1 []exchange) {
	t.Helper()
	readLines(t, filepath.Join(corpusDir, rel+".tshark.jsonl"), func(line []byte) {
		var r struct {
			Kind       string `json:"kind"`
			Method     string `json:"method"`
			Path       string `json:"path"`
			URI        string `json:"uri"`
			Status     *int   `json:"status"`
			GRPCStatus *int   `json:"grpc_status"`
			ReqMsgs    *int   `json:"grpc_req_msgs"`
			RespMsgs   *int   `json:"grpc_resp_msgs"`
			Upgrade    bool   `json:"via_h2c_upgrade"`
			Complete   bool   `json:"complete"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		switch {
		case r.Kind == "http2" && r.Complete:
			s := stream{Method: r.Method, Path: r.Path, Status: *r.Status, GRPCStatus: -1, ReqMsgs: -1, RespMsgs: -1, Upgrade: r.Upgrade}
			if r.ReqMsgs != nil {
				s.ReqMsgs, s.RespMsgs = *r.ReqMsgs, *r.RespMsgs
			}
			if r.GRPCStatus != nil {
				s.GRPCStatus = *r.GRPCStatus
			}
			streams = append(streams, s)
		case r.Kind == "http1" && r.Complete && r.Status != nil && *r.Status != 101:
			http1 = append(http1, exchange{Method: r.Method, URI: r.URI, Status: *r.Status})
		}
	})
	return streams, http1
}

// h2Emitted reads podtap's records: HTTP/2 and gRPC pairs as streams, the
// rest as HTTP/1 exchanges.
func h2Emitted(t *testing.T, records [][]byte) (streams []stream, http1 []exchange) {
	t.Helper()
	for _, rec := range records {
		if err := schematest.Validate(rec); err != nil {
			t.Fatalf("%v\n%s", err, rec)
		}
		var r struct {
			Protocol string `json:"protocol"`
			Request  struct {
				Method    string  `json:"method"`
				Path      string  `json:"path"`
				Query     *string `json:"query"`
				Authority string  `json:"authority"`
			}
			Response struct {
				Status int `json:"status"`
			}
			GRPC *struct {
				StatusCode *int              `json:"status_code"`
				Requests   []json.RawMessage `json:"request_messages"`
				Responses  []json.RawMessage `json:"response_messages"`
			} `json:"grpc"`
		}
		if err := json.Unmarshal(rec, &r); err != nil {
			t.Fatal(err)
		}
		uri := r.Request.Path
		if r.Request.Query != nil {
			uri += "?" + *r.Request.Query
		}
		if r.Request.Method == "CONNECT" && uri == "" {
			// The authority form is CONNECT's request target.
			uri = r.Request.Authority
		}
		switch r.Protocol {
		case "h2", "grpc":
			s := stream{Method: r.Request.Method, Path: uri, Status: r.Response.Status, GRPCStatus: -1, ReqMsgs: -1, RespMsgs: -1}
			if g := r.GRPC; g != nil {
				s.ReqMsgs, s.RespMsgs = len(g.Requests), len(g.Responses)
				if g.StatusCode != nil {
					s.GRPCStatus = *g.StatusCode
				}
			}
			streams = append(streams, s)
		default:
			http1 = append(http1, exchange{Method: r.Request.Method, URI: uri, Status: r.Response.Status})
		}
	}
	return streams, http1
}

type h2Row struct {
	file                               string
	streams, matched, missing, extra   int
	upgrades, upgradesMatched          int
	truthMsgs, msgs, http1, http1Match int
}

// TestReplayCorpusHTTP2 replays the HTTP/2 and gRPC captures with
// --no-filter and grpc.emit_undecoded and compares every stream with
// tshark's: method, path, status, grpc-status and the request and response
// message counts must match, stream for stream, and the h2c upgrades must
// yield their stream-1 pair. The HTTP/1 exchanges around them (a CONNECT,
// plain requests beside the upgraded ones) must match too.
func TestReplayCorpusHTTP2(t *testing.T) {
	var files []string
	for _, dir := range []string{"http2-h2c-prior", "http2-h2c-upgrade", "grpc"} {
		matches, err := filepath.Glob(filepath.Join(corpusDir, dir, "*.tshark.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range matches {
			rel, _ := filepath.Rel(corpusDir, strings.TrimSuffix(m, ".tshark.jsonl"))
			files = append(files, rel)
		}
	}
	sort.Strings(files)
	if len(files) < 10 {
		t.Fatalf("found %d HTTP/2 captures in %s, want 10", len(files), corpusDir)
	}
	cfg := noFilter()
	cfg.GRPC.EmitUndecoded = true
	var rows []h2Row
	for _, rel := range files {
		t.Run(rel, func(t *testing.T) {
			truth, truth1 := h2Truth(t, rel)
			got, got1 := h2Emitted(t, replay(t, cfg, filepath.Join(corpusDir, rel)))
			r := h2Row{file: rel, streams: len(truth), http1: len(truth1)}
			pool := append([]stream(nil), truth...)
			for _, s := range truth {
				if s.ReqMsgs > 0 {
					r.truthMsgs += s.ReqMsgs + s.RespMsgs
				}
				if s.Upgrade {
					r.upgrades++
				}
			}
			for _, s := range got {
				i := indexFunc(pool, s.same)
				if i < 0 {
					r.extra++
					t.Errorf("stream tshark does not have: %s", s)
					continue
				}
				r.matched++
				if pool[i].Upgrade {
					r.upgradesMatched++
				}
				if s.ReqMsgs > 0 {
					r.msgs += s.ReqMsgs + s.RespMsgs
				}
				pool = append(pool[:i], pool[i+1:]...)
			}
			for _, s := range pool {
				t.Errorf("stream not emitted: %s", s)
			}
			r.missing = len(pool)
			pool1 := append([]exchange(nil), truth1...)
			for _, e := range got1 {
				i := indexFunc(pool1, func(x exchange) bool { return x.Method == e.Method && x.URI == e.URI && x.Status == e.Status })
				if i < 0 {
					t.Errorf("HTTP/1 exchange tshark does not have: %s", e)
					continue
				}
				r.http1Match++
				pool1 = append(pool1[:i], pool1[i+1:]...)
			}
			for _, e := range pool1 {
				t.Errorf("HTTP/1 exchange not emitted: %s", e)
			}
			rows = append(rows, r)
		})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-46s %7s %7s %7s %5s %9s %9s %7s\n", "capture", "streams", "matched", "missing", "extra", "h2c-upgr", "grpc-msgs", "http/1")
	var tot h2Row
	for _, r := range rows {
		fmt.Fprintf(&b, "%-46s %7d %7d %7d %5d %4d/%-4d %4d/%-4d %3d/%-3d\n", r.file, r.streams, r.matched, r.missing, r.extra,
			r.upgradesMatched, r.upgrades, r.msgs, r.truthMsgs, r.http1Match, r.http1)
		tot.streams += r.streams
		tot.matched += r.matched
		tot.missing += r.missing
		tot.extra += r.extra
		tot.upgrades += r.upgrades
		tot.upgradesMatched += r.upgradesMatched
		tot.msgs += r.msgs
		tot.truthMsgs += r.truthMsgs
		tot.http1 += r.http1
		tot.http1Match += r.http1Match
	}
	fmt.Fprintf(&b, "%-46s %7d %7d %7d %5d %4d/%-4d %4d/%-4d %3d/%-3d\n", "total", tot.streams, tot.matched, tot.missing, tot.extra,
		tot.upgradesMatched, tot.upgrades, tot.msgs, tot.truthMsgs, tot.http1Match, tot.http1)
	t.Log(b.String())
	if dir := os.Getenv("PODTAP_REPORT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "replay-http2.txt"), []byte(b.String()), 0o644)
	}
}

func indexFunc[T any](s []T, f func(T) bool) int {
	for i, v := range s {
		if f(v) {
			return i
		}
	}
	return -1
}
