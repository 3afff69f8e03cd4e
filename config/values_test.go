package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestValueRoundTripsThroughTheLoader renders every changed key as env and
// loads it back: what the webhook writes is what the sidecar reads.
func TestValueRoundTripsThroughTheLoader(t *testing.T) {
	want := DefaultSidecar()
	want.Capture.Interface = "lo"
	want.Capture.Ports = []int{80, 8080}
	want.Capture.ExcludePorts = []int{9090}
	want.Capture.SampleRate = 0.125
	want.Capture.RingBytes = 3*MiB + 512*KiB
	want.Pod.Workload = "Deployment/checkout"
	want.Limits.MaxMessageBytes = 1500
	want.Pairing.ResponseTimeout = 1500 * time.Millisecond
	want.Filter.Enabled = false
	want.Filter.ContentTypes = []string{"application/json", "text/xml"}
	want.Filter.DropPaths = []string{}
	want.Redact.Headers = []string{"authorization", "x-token"}
	want.GRPC.Reflection = "all"
	want.Sink.Type = "kafka"
	want.Kafka.Brokers = []string{"a:9092", "b:9092"}
	want.Kafka.Topic = "t"
	want.Kafka.Spool.Dir = "/var/lib/podtap/spool"
	want.Log.Level = "debug"

	var env []string
	for _, key := range Changed(DefaultSidecar(), want) {
		v, err := Value(want, key)
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, EnvName(key)+"="+v)
	}
	got, err := LoadSidecar(Source{Env: env})
	if err != nil {
		t.Fatalf("loading %q: %v", env, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip through %q:\n got %+v\nwant %+v", env, got, want)
	}
	if n := len(Changed(DefaultSidecar(), DefaultSidecar())); n != 0 {
		t.Fatalf("defaults differ from themselves in %d keys", n)
	}
}

func TestValueRefusesWhatCannotComeBack(t *testing.T) {
	cfg := DefaultSidecar()
	cfg.Filter.ContentTypes = []string{"application/json;charset=a,b"}
	if _, err := Value(cfg, "filter.content_types"); err == nil || !strings.Contains(err.Error(), "comma") {
		t.Fatalf("a comma inside a list element: %v", err)
	}
	if _, err := Value(cfg, "capture.nope"); err == nil {
		t.Fatal("an unknown key has a value")
	}
}
