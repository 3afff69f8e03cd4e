package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"
)

func TestRegistrationCommandPrintsTheConfiguredObject(t *testing.T) {
	file := filepath.Join(t.TempDir(), "webhook.yaml")
	if err := os.WriteFile(file, []byte("registration:\n  name: tap\ninjection:\n  excluded_namespaces: [batch]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POD_NAMESPACE", "from-env")
	var out bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetArgs([]string{"registration", "--config", file, "--namespace", "observability", "--tls-mode", "cert-manager"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(out.Bytes(), &mwc); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if mwc.Name != "tap" || mwc.Webhooks[0].ClientConfig.Service.Namespace != "observability" ||
		mwc.Annotations["cert-manager.io/inject-ca-from"] != "observability/podtap-webhook" {
		t.Fatalf("flags and file not applied:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "- batch") {
		t.Fatalf("configured exclusion missing:\n%s", out.String())
	}
}

func TestInvalidConfigurationIsRefused(t *testing.T) {
	root := newRoot()
	root.SetOut(&bytes.Buffer{})
	root.SetArgs([]string{"registration", "--tls-mode", "self-signed"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "tls.mode") {
		t.Fatalf("got %v", err)
	}
}

func TestAnnotationsCommandListsTheTable(t *testing.T) {
	var out bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetArgs([]string{"annotations"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| `podtap.io/response-timeout` | `10s` |",
		"| `podtap.io/ports` | (none) |",
		"| `podtap.io/memory-limit` | `256Mi` |",
		"| `podtap.io/native-sidecar` | `auto` |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
}
