package flow

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/message"
)

const corpusDir = "../../testdata/corpus"

// truthSummary is a file's row of ground_truth_summary.json.
type truthSummary struct {
	File    string `json:"file"`
	Retrans int    `json:"retrans"`
	OOO     int    `json:"ooo"`
	Lost    int    `json:"lost"`
	// FollowAgrees says tshark and the follow parse found the same pairs.
	FollowAgrees bool `json:"follow_agrees"`
}

// truthHTTP1 is one kind=http1 line of X.tshark.jsonl.
type truthHTTP1 struct {
	Kind            string `json:"kind"`
	TCPStream       int    `json:"tcp_stream"`
	Client          string `json:"client"`
	Server          string `json:"server"`
	Method          string `json:"method"`
	URI             string `json:"uri"`
	Version         string `json:"version"`
	Status          *int   `json:"status"`
	RespVersion     string `json:"resp_version"`
	InterimStatuses []int  `json:"interim_statuses"`
}

// truthFollow is one line of X.follow.jsonl: a stream's pairs in order, each
// [method, uri, status, req body bytes, resp body bytes].
type truthFollow struct {
	TCPStream int     `json:"tcp_stream"`
	Pairs     [][]any `json:"pairs"`
}

// knownGaps are captures whose ground truth notes segments lost from the
// capture (not just reordered), so reassembly must report gaps.
var knownGaps = map[string]bool{
	"tcp-gaps/http-gap-simple__input.pcap":                    true,
	"tcp-gaps/http-pipeline-files-with-gap__input.pcap":       true,
	"tcp-gaps/zero-length-bodies-with-drops.pcap":             true,
	"http1-keepalive/bro.org.pcap":                            true,
	"http1-keepalive/1000-requests-one-dropped-response.pcap": true,
}

func corpusFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(corpusDir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".pcap") || strings.HasSuffix(path, ".pcapng") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing the corpus: %v", err)
	}
	if len(files) < 40 {
		t.Fatalf("found %d captures under %s, want the whole corpus (42)", len(files), corpusDir)
	}
	return files
}

func loadSummaries(t *testing.T) map[string]truthSummary {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(corpusDir, "ground_truth_summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []truthSummary
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatal(err)
	}
	m := map[string]truthSummary{}
	for _, r := range rows {
		m[r.File] = r
	}
	return m
}

// readJSONLines reads a ground-truth file of one JSON value per line. A
// missing file fails the test unless it is optional.
func readJSONLines[T any](t *testing.T, path string, optional bool) []T {
	t.Helper()
	f, err := os.Open(path)
	if optional && os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// replay runs a capture file through capture and flow.
func replay(t testing.TB, path string, cfg config.Flow, rec *recorders) *Flow {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f := New(cfg, 1, rec)
	if err := f.Run(context.Background(), src); err != nil {
		t.Fatalf("replaying %s: %v", path, err)
	}
	return f
}

// directionKey names one direction of a connection, "src>dst".
func directionKey(src, dst string) string { return src + ">" + dst }

func endpointKey(e message.Endpoint) string { return netip.AddrPortFrom(e.IP, e.Port).String() }

func endpointString(ip, port string) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:" + port
	}
	return ip + ":" + port
}

// recordedDirs indexes what the recorders got by direction.
func recordedDirs(rec *recorders) map[string]*recordedDir {
	m := map[string]*recordedDir{}
	for _, r := range rec.streams() {
		a, b := endpointKey(r.conn.A), endpointKey(r.conn.B)
		m[directionKey(a, b)] = &r.dirs[AtoB]
		m[directionKey(b, a)] = &r.dirs[BtoA]
	}
	return m
}

// TestCorpusReplay replays every capture of the corpus with the default
// buffer caps and with the smallest valid ones, under which reassembly
// gives up waiting soonest: even then no captured byte may be skipped.
func TestCorpusReplay(t *testing.T) {
	summaries := loadSummaries(t)
	smallest := config.DefaultSidecar().Flow
	smallest.MaxConnBufferBytes = 64 * config.KiB
	smallest.MaxBufferBytes = smallest.MaxConnBufferBytes
	for _, path := range corpusFiles(t) {
		rel, _ := filepath.Rel(corpusDir, path)
		for _, tc := range []struct {
			name string
			cfg  config.Flow
		}{{"default", config.DefaultSidecar().Flow}, {"smallest-buffers", smallest}} {
			t.Run(rel+"/"+tc.name, func(t *testing.T) {
				replayCorpusFile(t, path, rel, summaries, tc.cfg)
			})
		}
	}
}

func replayCorpusFile(t *testing.T, path, rel string, summaries map[string]truthSummary, cfg config.Flow) {
	t.Helper()
	sum, ok := summaries[rel]
	if !ok {
		t.Fatalf("no ground truth summary for %s", rel)
	}
	rec := &recorders{keepBytes: true}
	cfg.Workers = 2
	replay(t, path, cfg, rec)
	streams := rec.streams()
	if len(streams) == 0 {
		t.Fatal("no stream got any data")
	}
	gaps := 0
	for _, r := range streams {
		if r.ended != 1 {
			t.Errorf("%v: End called %d times, want 1", r.conn, r.ended)
		}
		if r.afterEnd > 0 {
			t.Errorf("%v: %d calls after End", r.conn, r.afterEnd)
		}
		gaps += r.gapCount()
	}
	images, convs := capturedImages(t, path)
	holes := 0
	for _, im := range images {
		holes += im.holes()
	}
	switch {
	case holes > 0 && gaps == 0:
		t.Errorf("the capture misses segments in %d places, flow reported no gap", holes)
	case holes == 0 && gaps > 0:
		t.Errorf("flow reported %d gaps on a capture that misses no segment", gaps)
	case knownGaps[rel] && gaps == 0:
		t.Errorf("flow reported no gap on a capture known to miss segments")
	}
	if strings.HasPrefix(rel, "tcp-midstream/") {
		checkMidstream(t, streams, images)
	}
	checkImages(t, images, recordedDirs(rec))
	checkCaptureTimes(t, images, recordedDirs(rec))
	checkHTTP1Truth(t, path, sum, recordedDirs(rec), convs)
}

// checkMidstream checks that connections picked up without a handshake
// deliver their data as it is captured, not only when a flush gives up
// waiting for a start that never comes.
func checkMidstream(t *testing.T, streams []*recorder, images map[string]*image) {
	t.Helper()
	for _, r := range streams {
		if r.conn.SawSYN {
			t.Errorf("%v: SawSYN on a capture without handshake", r.conn)
		}
		if r.dirs[AtoB].bytes+r.dirs[BtoA].bytes == 0 {
			t.Errorf("%v: midstream connection delivered no data", r.conn)
		}
		a, b := endpointKey(r.conn.A), endpointKey(r.conn.B)
		for dir, key := range []string{directionKey(a, b), directionKey(b, a)} {
			im, d := images[key], &r.dirs[dir]
			if im == nil || d.bytes == 0 {
				continue
			}
			if !d.first.Equal(im.firstTS) {
				t.Errorf("%s: first data delivered at %v, captured at %v", key, d.first, im.firstTS)
			}
		}
	}
}

// checkHTTP1Truth looks for the ground truth's HTTP/1 messages in the
// reassembled bytes: request lines ("METHOD URI ") in the client's
// direction and status lines ("HTTP/1.x NNN ") in the server's. The expected count of each is the larger of tshark's and the
// follow parse's, since each misses some messages after gaps or in
// out-of-order data. Where both agree and no gap was reported the count
// must match exactly; elsewhere reassembly must recover at least as much.
func checkHTTP1Truth(t *testing.T, path string, sum truthSummary, dirs map[string]*recordedDir, convs []string) {
	t.Helper()
	tshark := map[string]map[string]int{}
	follow := map[string]map[string]int{}
	add := func(m map[string]map[string]int, key, line string) {
		if m[key] == nil {
			m[key] = map[string]int{}
		}
		m[key][line]++
	}
	clientOf := map[int][2]string{} // tcp_stream -> client, server
	for _, h := range readJSONLines[truthHTTP1](t, path+".tshark.jsonl", false) {
		if h.Kind != "http1" {
			continue
		}
		client, server := tsharkEndpoint(t, h.Client), tsharkEndpoint(t, h.Server)
		clientOf[h.TCPStream] = [2]string{client, server}
		// An empty version marks a request line tshark could not parse;
		// its method and URI fields are then not what the bytes say.
		if h.Method != "" && h.Version != "" {
			add(tshark, directionKey(client, server), h.Method+" "+h.URI+" ")
		}
		if h.Status != nil {
			add(tshark, directionKey(server, client), statusLine(*h.Status))
		}
		for _, s := range h.InterimStatuses {
			add(tshark, directionKey(server, client), statusLine(s))
		}
	}
	// The follow parse covers only captures that carry HTTP/1.
	for _, fl := range readJSONLines[truthFollow](t, path+".follow.jsonl", true) {
		ends, ok := clientOf[fl.TCPStream]
		if !ok {
			if fl.TCPStream >= len(convs) || len(fl.Pairs) == 0 {
				continue
			}
			a, b, _ := strings.Cut(convs[fl.TCPStream], ">")
			ends = [2]string{a, b}
		}
		for _, p := range fl.Pairs {
			add(follow, directionKey(ends[0], ends[1]), fmt.Sprintf("%v %v ", p[0], p[1]))
			if st, ok := p[2].(float64); ok {
				add(follow, directionKey(ends[1], ends[0]), statusLine(int(st)))
			}
		}
	}
	keys := map[string]bool{}
	for k := range tshark {
		keys[k] = true
	}
	for k := range follow {
		keys[k] = true
	}
	for key := range keys {
		d, ok := dirs[key]
		if !ok {
			t.Errorf("%s: the ground truth has HTTP/1 messages, flow delivered no stream", key)
			continue
		}
		lines := map[string]bool{}
		for l := range tshark[key] {
			lines[l] = true
		}
		for l := range follow[key] {
			lines[l] = true
		}
		exact := sum.FollowAgrees && len(d.gaps) == 0
		for line := range lines {
			want := max(tshark[key][line], follow[key][line])
			got := countMessages(d.data, line)
			if got < want || exact && got != want {
				t.Errorf("%s: %q starts %d lines, ground truth %d (tshark %d, follow %d, gaps %d)",
					key, line, got, want, tshark[key][line], follow[key][line], len(d.gaps))
			}
		}
	}
}

func statusLine(status int) string { return fmt.Sprintf("HTTP/1.? %d ", status) }

// countMessages counts occurrences of prefix in b, where '?' in prefix
// matches any byte. Bodies need not end in a newline, so a message start is
// not looked for at line starts only. Bytes after a 101 response belong to
// another protocol (a WebSocket echo may quote the handshake), so counting
// stops at the end of the 101's header block.
func countMessages(b []byte, prefix string) int {
	if i := bytes.Index(b, []byte("HTTP/1.1 101 ")); i >= 0 {
		if end := bytes.Index(b[i:], []byte("\r\n\r\n")); end >= 0 {
			b = b[:i+end+4]
		}
	}
	n := 0
	for i := 0; i+len(prefix) <= len(b); i++ {
		if matchAt(b[i:], prefix) {
			n++
		}
	}
	return n
}

func matchAt(b []byte, prefix string) bool {
	for i := range len(prefix) {
		if prefix[i] != '?' && prefix[i] != b[i] {
			return false
		}
	}
	return true
}

// tsharkEndpoint turns tshark's "ip:port" (IPv6 without brackets) into the
// form endpointKey makes.
func tsharkEndpoint(t *testing.T, s string) string {
	t.Helper()
	i := strings.LastIndexByte(s, ':')
	ap, err := netip.ParseAddrPort(endpointString(s[:i], s[i+1:]))
	if err != nil {
		t.Fatalf("ground truth endpoint %q: %v", s, err)
	}
	return ap.String()
}

// image is a direction's bytes laid out by sequence offset, with holes.
type image struct {
	data    []byte
	covered []bool
	// firstTS is the capture time of the first payload byte.
	firstTS time.Time
	// captured is when each byte was first captured (Unix ns; 0 never).
	captured []int64
}

func (im *image) put(off int, b []byte) {
	if end := off + len(b); end > len(im.data) {
		im.data = append(im.data, make([]byte, end-len(im.data))...)
		im.covered = append(im.covered, make([]bool, end-len(im.covered))...)
	}
	copy(im.data[off:], b)
	for i := range b {
		im.covered[off+i] = true
	}
}

// capture records that bytes [off, off+n) were captured at ts, unless
// they were captured before.
func (im *image) capture(off, n int, ts time.Time) {
	if end := off + n; end > len(im.captured) {
		im.captured = append(im.captured, make([]int64, end-len(im.captured))...)
	}
	for i := off; i < off+n; i++ {
		if im.captured[i] == 0 {
			im.captured[i] = ts.UnixNano()
		}
	}
}

// holes counts the runs of missing bytes before captured ones, from the
// start of the direction.
func (im *image) holes() int {
	n := 0
	for i := range im.covered {
		if !im.covered[i] && (i == 0 || im.covered[i-1]) {
			n++
		}
	}
	return n
}

// deliveredImage lays out what a recorder got, gaps as holes.
func deliveredImage(d *recordedDir) *image {
	im := &image{}
	off, pos := 0, 0
	for _, g := range d.gaps {
		im.put(pos, d.data[off:g.at])
		pos += g.at - off
		off = g.at
		pos += g.n
	}
	im.put(pos, d.data[off:])
	return im
}

// capturedImages decodes a capture independently of flow (gopacket's
// packet API) and lays out every payload byte of each direction from where
// reassembly starts it: after the SYN, or at the direction's first packet
// once the connection is tracked (its first SYN or payload packet).
//
// It also returns the connections in order of their first packet, as
// tshark numbers them (tcp_stream), each as "client>server" when a SYN
// says which side is the client.
func capturedImages(t *testing.T, path string) (map[string]*image, []string) {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	images := map[string]*image{}
	decoded := 0
	starts := map[string]uint32{}
	tracked := map[string]bool{}
	var convs []string
	seen := map[string]bool{}
	for {
		data, ci, err := src.ReadPacket()
		if err != nil {
			break
		}
		pkt := gopacket.NewPacket(data, src.LinkType(), gopacket.Default)
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		nl := pkt.NetworkLayer()
		if tcp == nil || nl == nil {
			continue
		}
		decoded++
		srcIP, dstIP := nl.NetworkFlow().Endpoints()
		s := endpointString(srcIP.String(), fmt.Sprint(uint16(tcp.SrcPort)))
		d := endpointString(dstIP.String(), fmt.Sprint(uint16(tcp.DstPort)))
		key, rkey := directionKey(s, d), directionKey(d, s)
		if !seen[key] && !seen[rkey] {
			seen[key] = true
			convs = append(convs, key)
		}
		if tcp.SYN && !tcp.ACK {
			for i, c := range convs {
				if c == rkey {
					convs[i] = key
				}
			}
		}
		if !tracked[key] && !tracked[rkey] {
			if len(tcp.Payload) == 0 && !tcp.SYN {
				continue
			}
			tracked[key], tracked[rkey] = true, true
		}
		if _, ok := starts[key]; !ok {
			if tcp.SYN {
				starts[key] = tcp.Seq + 1
			} else {
				starts[key] = tcp.Seq
			}
			images[key] = &image{}
		}
		seq := tcp.Seq
		if tcp.SYN {
			seq++
		}
		if off := int32(seq - starts[key]); off >= 0 && len(tcp.Payload) > 0 {
			if images[key].firstTS.IsZero() {
				images[key].firstTS = ci.Timestamp
			}
			images[key].put(int(off), tcp.Payload)
			images[key].capture(int(off), len(tcp.Payload), ci.Timestamp)
		}
	}
	if decoded == 0 {
		t.Fatalf("%s: the reference decoder found no TCP packet", path)
	}
	return images, convs
}

// checkImages compares delivered bytes with captured bytes offset by
// offset: no byte duplicated, moved, altered or lost, and holes only where
// the capture has none.
func checkImages(t *testing.T, images map[string]*image, dirs map[string]*recordedDir) {
	t.Helper()
	for key, want := range images {
		d, ok := dirs[key]
		if !ok {
			if slices.Contains(want.covered, true) {
				t.Errorf("%s: captured %d payload bytes, none delivered", key, len(want.data))
			}
			continue
		}
		got := deliveredImage(d)
		n := max(len(got.data), len(want.data))
		var missing, extra, differ int
		for i := range n {
			g := i < len(got.covered) && got.covered[i]
			w := i < len(want.covered) && want.covered[i]
			switch {
			case w && !g:
				missing++
			case g && !w:
				extra++
			case g && w && got.data[i] != want.data[i]:
				differ++
			}
		}
		if missing+extra+differ > 0 {
			t.Errorf("%s: delivered %d bytes (%d gaps) vs captured %d: %d missing, %d extra, %d different",
				key, d.bytes, len(d.gaps), len(want.data), missing, extra, differ)
		}
	}
}

// checkCaptureTimes checks that every delivered byte carries the time its
// first copy was captured, however long reassembly held it (out of order,
// behind a hole, or until a flush).
func checkCaptureTimes(t *testing.T, images map[string]*image, dirs map[string]*recordedDir) {
	t.Helper()
	for key, im := range images {
		d, ok := dirs[key]
		if !ok {
			continue
		}
		wrong, g, skipped := 0, 0, 0
		var example string
		for _, c := range d.chunks {
			for g < len(d.gaps) && d.gaps[g].at <= c.at {
				skipped += max(d.gaps[g].n, 0)
				g++
			}
			for i := c.at + skipped; i < c.at+skipped+c.n && i < len(im.captured); i++ {
				if want := im.captured[i]; want != 0 && want != c.ts.UnixNano() {
					if wrong == 0 {
						example = fmt.Sprintf("byte %d delivered stamped %v, captured at %v",
							i, c.ts.UTC(), time.Unix(0, want).UTC())
					}
					wrong++
				}
			}
		}
		if wrong > 0 {
			t.Errorf("%s: %d bytes stamped with another time than their capture's; first: %s", key, wrong, example)
		}
	}
}
