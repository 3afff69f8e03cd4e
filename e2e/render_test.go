package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/podtap/podtap/config"
)

// releaseName and releaseNamespace are the install command:
// helm install podtap charts/podtap -n podtap.
const (
	releaseName      = "podtap"
	releaseNamespace = "podtap"
)

// rendered is the output of one `helm template`.
type rendered struct {
	objs []*unstructured.Unstructured
}

// renderChart runs helm template for the release with more helm args
// (-f FILE, --set K=V ...).
func renderChart(t *testing.T, args ...string) rendered {
	t.Helper()
	out, err := runHelm(t, append([]string{"template", releaseName, chartDir, "--namespace", releaseNamespace}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return parseObjects(t, out)
}

func parseObjects(t *testing.T, manifest string) rendered {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewBufferString(manifest), 4096)
	var r rendered
	for {
		var u unstructured.Unstructured
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decoding the rendered chart: %v", err)
		}
		if len(u.Object) == 0 {
			continue
		}
		r.objs = append(r.objs, &u)
	}
	if len(r.objs) == 0 {
		t.Fatal("the chart rendered no objects")
	}
	return r
}

// all returns the objects of a kind.
func (r rendered) all(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// one returns the only object of a kind, decoded into obj.
func (r rendered) one(t *testing.T, kind string, obj any) {
	t.Helper()
	all := r.all(kind)
	if len(all) != 1 {
		t.Fatalf("%d %s objects rendered, want 1", len(all), kind)
	}
	into(t, all[0], obj)
}

func into(t *testing.T, u *unstructured.Unstructured, obj any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		t.Fatalf("decoding %s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

// configFile is the webhook configuration the chart's ConfigMap holds.
func (r rendered) configFile(t *testing.T) string {
	t.Helper()
	for _, cm := range r.all("ConfigMap") {
		data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
		if c, ok := data["config.yaml"]; ok {
			return c
		}
	}
	t.Fatal("no ConfigMap with config.yaml rendered")
	return ""
}

// webhookConfig loads the ConfigMap's configuration the way podtap-webhook
// does.
func (r rendered) webhookConfig(t *testing.T) config.Webhook {
	t.Helper()
	return loadWebhookConfig(t, r.configFile(t))
}

// loadWebhookConfig loads a configuration file as podtap-webhook does, with
// the Deployment's POD_NAMESPACE.
func loadWebhookConfig(t *testing.T, data string) config.Webhook {
	t.Helper()
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadWebhook(config.Source{File: file, Env: []string{"POD_NAMESPACE=" + releaseNamespace}})
	if err != nil {
		t.Fatalf("podtap-webhook would not start with the chart's configuration: %v\n%s", err, data)
	}
	return cfg
}
