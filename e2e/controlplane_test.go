package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/podtap/podtap/internal/testenv"
)

// controlPlane is a real kube-apiserver and etcd (envtest).
type controlPlane struct {
	rest *rest.Config
	c    client.Client
	cs   kubernetes.Interface
}

// startControlPlane starts kube-apiserver serving on address (empty: the
// loopback), with the CRDs of the given files installed; it stops when the
// test ends.
func startControlPlane(t *testing.T, address, port string, crds ...string) *controlPlane {
	t.Helper()
	testenv.RequireEnvtest(t)
	env := &envtest.Environment{
		CRDInstallOptions:     envtest.CRDInstallOptions{Paths: crds, ErrorIfPathMissing: true},
		ErrorIfCRDPathMissing: len(crds) > 0,
	}
	if address != "" {
		env.ControlPlane.APIServer = &envtest.APIServer{}
		env.ControlPlane.APIServer.SecureServing.ListenAddr = envtest.ListenAddr{Address: address, Port: port}
	}
	started := time.Now()
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() {
		start := time.Now()
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
		t.Logf("control plane stopped in %s", time.Since(start).Round(time.Millisecond))
	})
	t.Logf("control plane at %s up in %s", cfg.Host, time.Since(started).Round(time.Millisecond))
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &controlPlane{rest: cfg, c: c, cs: cs}
}

func (cp *controlPlane) createNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := cp.c.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// certManagerVersion is the cert-manager whose CRDs check the chart's
// cert-manager objects; its module ships them as plain CRD manifests.
const certManagerVersion = "v1.21.2"

// certManagerCRDs fetches cert-manager's Certificate and Issuer CRDs from
// the Go module proxy (or the module cache).
func certManagerCRDs(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/cert-manager/cert-manager@"+certManagerVersion)
	// Outside podtap's module: the download must not touch its go.mod.
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fetching cert-manager %s's CRDs: %v", certManagerVersion, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download cert-manager: %v: %s", err, out)
	}
	dir := filepath.Join(mod.Dir, "deploy", "crds")
	return []string{
		filepath.Join(dir, "cert-manager.io_certificates.yaml"),
		filepath.Join(dir, "cert-manager.io_issuers.yaml"),
	}
}
