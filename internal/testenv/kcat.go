package testenv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
)

// KcatRecord is one record as kcat's JSON envelope (-J) prints it.
type KcatRecord struct {
	Key string `json:"key"`
	// Headers alternate names and values, as kcat lists them.
	Headers []string `json:"headers"`
	Payload string   `json:"payload"`
}

// KcatRead reads every record of topic from the beginning with kcat
// (librdkafka), a Kafka client independent of franz-go, so a test sees
// what another client sees. Without kcat the test skips (fails on CI).
func KcatRead(t testing.TB, broker, topic string) []KcatRecord {
	t.Helper()
	kcat := RequireTool(t, "kcat")
	out, err := exec.Command(kcat, "-C", "-b", broker, "-t", topic, "-J", "-e", "-q", "-o", "beginning").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	var recs []KcatRecord
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var r KcatRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("kcat line %d: %v: %.200s", len(recs), err, sc.Bytes())
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("kcat output: %v", err)
	}
	return recs
}
