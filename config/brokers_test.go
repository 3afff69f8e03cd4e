package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestLoadBrokersStringOrList: kafka.brokers is one comma-separated string
// or a list, in env and in the file alike.
func TestLoadBrokersStringOrList(t *testing.T) {
	want := []string{"a:9092", "b:9093"}
	for name, src := range map[string]Source{
		"env string":  {Env: []string{"PODTAP_SINK_TYPE=kafka", "PODTAP_KAFKA_BROKERS=a:9092,b:9093"}},
		"file string": {Env: []string{}, File: writeFile(t, "sink: {type: kafka}\nkafka: {brokers: \"a:9092, b:9093\"}\n")},
		"file list":   {Env: []string{}, File: writeFile(t, "sink: {type: kafka}\nkafka: {brokers: [a:9092, b:9093]}\n")},
	} {
		cfg, err := LoadSidecar(src)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(cfg.Kafka.Brokers, want) {
			t.Errorf("%s: brokers %q, want %q", name, cfg.Kafka.Brokers, want)
		}
	}
}

// TestLoadBrokersRejected: an entry the Kafka client could not dial is an
// error naming kafka.brokers and the entry.
func TestLoadBrokersRejected(t *testing.T) {
	for _, tc := range []struct{ file, entry string }{
		{`kafka: {brokers: "kafka"}`, `"kafka"`},
		{`kafka: {brokers: "kafka:port"}`, `"kafka:port"`},
		{`kafka: {brokers: "kafka:99999"}`, `"kafka:99999"`},
		{`kafka: {brokers: ":9092"}`, `":9092"`},
		{`kafka: {brokers: [a:9092, ""]}`, "an empty entry"},
	} {
		_, err := LoadSidecar(Source{Env: []string{}, File: writeFile(t, "sink: {type: kafka}\n"+tc.file+"\n")})
		if err == nil || !strings.Contains(err.Error(), "kafka.brokers: ") || !strings.Contains(err.Error(), tc.entry) {
			t.Errorf("%s: %v, want an error naming kafka.brokers and %s", tc.file, err, tc.entry)
		}
	}
}

// TestValidateChangesNothing: Validate only checks, so callers need no
// copy; Normalize, which LoadSidecar applies, rewrites the short forms.
func TestValidateChangesNothing(t *testing.T) {
	cfg := DefaultSidecar()
	cfg.Sink.Type = "file:/var/log/pairs.jsonl"
	cfg.Kafka.Brokers = []string{"a:9092"}
	before := DefaultSidecar()
	before.Sink = cfg.Sink
	before.Kafka.Brokers = []string{"a:9092"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, before) {
		t.Fatalf("Validate changed the configuration: sink %+v", cfg.Sink)
	}
	wh := DefaultWebhook()
	wh.Sidecar.Settings.Sink.Type = "file:/p"
	if err := wh.Validate(); err != nil {
		t.Fatal(err)
	}
	if wh.Sidecar.Settings.Sink.Type != "file:/p" {
		t.Fatalf("webhook Validate changed sidecar.settings.sink to %+v", wh.Sidecar.Settings.Sink)
	}
	cfg.Normalize()
	if cfg.Sink.Type != "file" || cfg.Sink.Path != "/var/log/pairs.jsonl" {
		t.Fatalf("normalised sink %+v", cfg.Sink)
	}
	loaded, err := LoadSidecar(Source{Env: []string{"PODTAP_SINK_TYPE=file:/p"}})
	if err != nil || loaded.Sink != (Sink{Type: "file", Path: "/p"}) {
		t.Fatalf("loaded sink %+v, %v", loaded.Sink, err)
	}
}
