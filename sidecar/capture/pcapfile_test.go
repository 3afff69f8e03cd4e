package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

const corpusDir = "../../testdata/corpus"

// readAll reads a source to its end, returning the packets it gave.
func readAll(t *testing.T, src Source) int {
	t.Helper()
	n := 0
	for {
		data, ci, err := src.ReadPacket()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("after %d packets: %v", n, err)
		}
		if len(data) != ci.CaptureLength || ci.Timestamp.IsZero() {
			t.Fatalf("packet %d: %d bytes, capture length %d, time %v", n, len(data), ci.CaptureLength, ci.Timestamp)
		}
		n++
	}
}

func TestOpenFileCorpus(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(corpusDir, "ground_truth_summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		File    string `json:"file"`
		Packets int    `json:"packets"`
	}
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatal(err)
	}
	links := map[layers.LinkType]int{}
	for _, row := range rows {
		src, err := OpenFile(filepath.Join(corpusDir, row.File))
		if err != nil {
			t.Errorf("%s: %v", row.File, err)
			continue
		}
		if n := readAll(t, src); n != row.Packets {
			t.Errorf("%s: read %d packets, tshark counts %d", row.File, n, row.Packets)
		}
		if st, _ := src.Stats(); st.Packets != uint64(row.Packets) || st.Drops != 0 {
			t.Errorf("%s: stats %+v", row.File, st)
		}
		if src.Live() {
			t.Errorf("%s: a file reports Live", row.File)
		}
		links[src.LinkType()]++
		src.Close()
	}
	if links[layers.LinkTypeNull] != 13 || links[layers.LinkTypeEthernet] != len(rows)-13 {
		t.Errorf("link types %v, want 13 BSD loopback and the rest Ethernet", links)
	}
}

func writePcap(t *testing.T, link layers.LinkType, packets int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, link); err != nil {
		t.Fatal(err)
	}
	for i := range packets {
		data := bytes.Repeat([]byte{byte(i)}, 60)
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000+int64(i), 0), CaptureLength: 60, Length: 60}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenFileVariants(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(writePcap(t, layers.LinkTypeEthernet, 5))
	zw.Close()
	full := writePcap(t, layers.LinkTypeLinuxSLL2, 5)
	for _, tc := range []struct {
		name    string
		data    []byte
		link    layers.LinkType
		packets int
	}{
		{"gzip", gz.Bytes(), layers.LinkTypeEthernet, 5},
		{"sll", writePcap(t, layers.LinkTypeLinuxSLL, 3), layers.LinkTypeLinuxSLL, 3},
		{"sll2", full, layers.LinkTypeLinuxSLL2, 5},
		{"dlt-raw-12", writePcap(t, 12, 2), layers.LinkTypeRaw, 2},
		{"dlt-raw-14", writePcap(t, 14, 2), layers.LinkTypeRaw, 2},
		{"linktype-ipv4", writePcap(t, layers.LinkTypeIPv4, 2), layers.LinkTypeIPv4, 2},
		{"linktype-ipv6", writePcap(t, layers.LinkTypeIPv6, 2), layers.LinkTypeIPv6, 2},
		{"loop", writePcap(t, layers.LinkTypeLoop, 2), layers.LinkTypeLoop, 2},
		// A capture killed while writing its last record.
		{"truncated", full[:len(full)-30], layers.LinkTypeLinuxSLL2, 4},
	} {
		src, err := OpenFile(writeFile(t, tc.name+".pcap", tc.data))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if src.LinkType() != tc.link {
			t.Errorf("%s: link type %v, want %v", tc.name, src.LinkType(), tc.link)
		}
		if n := readAll(t, src); n != tc.packets {
			t.Errorf("%s: %d packets, want %d", tc.name, n, tc.packets)
		}
		src.Close()
	}
}

func TestOpenFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(t.TempDir(), "nope.pcap"), "no such file"},
		{"not a capture", writeFile(t, "text.pcap", []byte("GET / HTTP/1.1\r\n\r\n")), "not a readable pcap or pcapng file"},
		{"empty", writeFile(t, "empty.pcap", nil), "not a readable pcap or pcapng file"},
		{"token ring", writeFile(t, "tr.pcap", writePcap(t, layers.LinkTypeTokenRing, 1)), "link type"},
	} {
		_, err := OpenFile(tc.path)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: %q, want one line mentioning %q", tc.name, msg, tc.want)
		}
	}
}
