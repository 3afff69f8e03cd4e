package webhook_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gomodules.xyz/jsonpatch/v2"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/webhook"
)

// The suite runs the webhook in this process against a real kube-apiserver
// and etcd, registered with the same MutatingWebhookConfiguration the chart
// renders, and asserts the pods the API server stores.

const envtestVersion = "v0.0.0-envtest"

type suite struct {
	t        *testing.T
	rest     *rest.Config
	c        client.Client
	warnings *warnings
	logs     *testenv.LogBuffer
}

func TestEnvtest(t *testing.T) {
	testenv.RequireEnvtest(t)
	started := time.Now()
	env := &envtest.Environment{}
	restCfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	t.Logf("control plane up in %s", time.Since(started).Round(time.Millisecond))

	s := newSuite(t, restCfg)
	s.createNamespace("podtap-system", nil, nil)
	cfg := s.webhookConfig(config.TLSAuto, "podtap-webhook-tls")
	s.create(webhook.Registration(&cfg, nil))
	stop := s.run(cfg)
	s.waitServing(cfg)

	t.Run("registration caBundle patched", func(t *testing.T) { s.testCABundlePatched(t, cfg) })
	t.Run("labelled namespace injected natively", s.testInjected)
	t.Run("unlabelled namespace untouched", s.testUnlabelled)
	t.Run("opted-out pod untouched", s.testOptedOut)
	t.Run("opted-out by annotation untouched", s.testOptedOutByAnnotation)
	t.Run("single pod opted in in an unlabelled namespace", s.testSinglePodOptIn)
	t.Run("pod security baseline skipped and created", s.testPodSecurity)
	t.Run("windows by nodeSelector skipped", s.testWindowsNodeSelector)
	t.Run("native mesh sidecar means lo", s.testNativeMesh)
	t.Run("legacy container by annotation", s.testLegacyAnnotation)
	t.Run("invalid annotation warned and the rest applied", s.testInvalidAnnotation)
	t.Run("dry run creates no events", s.testDryRun)
	t.Run("mesh proxy added by a later webhook flips to lo", s.testReinvocation)
	t.Run("metrics and health served", func(t *testing.T) { s.testEndpoints(t, cfg) })
	t.Run("certificate rotation", func(t *testing.T) { s.testRotation(t, cfg) })
	t.Run("webhook stopped, pods still created", func(t *testing.T) { stop(); s.testStopped(t) })
	t.Run("cert-manager mode", s.testCertManager)
	t.Run("files mode reloads a replaced certificate", s.testFiles)
}

func newSuite(t *testing.T, restCfg *rest.Config) *suite {
	s := &suite{t: t, warnings: &warnings{}, logs: &testenv.LogBuffer{}}
	h := slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	ctrl.SetLogger(logr.FromSlogHandler(h))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("webhook logs:\n%s", s.logs.String())
		}
	})
	s.rest = rest.CopyConfig(restCfg)
	s.rest.WarningHandler = s.warnings
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(s.rest, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	s.c = c
	return s
}

// webhookConfig serves on loopback and registers by URL, the way a webhook
// outside the cluster is reached.
func (s *suite) webhookConfig(mode, secret string) config.Webhook {
	cfg := config.DefaultWebhook()
	cfg.Namespace = "podtap-system"
	port := testenv.FreePort(s.t, "127.0.0.1")
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.Port = port
	cfg.Server.CertDir = s.t.TempDir()
	cfg.Server.MetricsAddr = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(s.t, "127.0.0.1"))
	cfg.Server.HealthAddr = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(s.t, "127.0.0.1"))
	cfg.Registration.URL = "https://localhost:" + strconv.Itoa(port)
	cfg.TLS.Mode = mode
	cfg.TLS.SecretName = secret
	cfg.TLS.ExtraDNSNames = []string{"localhost"}
	cfg.Sidecar.Image = "registry.example/podtap/podtap-sidecar:" + envtestVersion
	if err := cfg.Validate(); err != nil {
		s.t.Fatal(err)
	}
	return cfg
}

// run starts the webhook; the returned func stops it and waits.
func (s *suite) run(cfg config.Webhook) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() {
		done <- webhook.Run(ctx, webhook.Options{Config: cfg, Version: envtestVersion, RestConfig: s.rest, Log: log})
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					s.t.Errorf("webhook.Run: %v", err)
				}
			case <-time.After(time.Minute):
				s.t.Error("the webhook did not stop within a minute")
			}
		})
	}
	s.t.Cleanup(stop)
	return stop
}

// waitServing waits for /readyz, which passes once the admission endpoint
// serves a certificate the registration trusts.
func (s *suite) waitServing(cfg config.Webhook) {
	s.t.Helper()
	start := time.Now()
	eventually(s.t, 2*time.Minute, func() error {
		return httpOK("http://" + cfg.Server.HealthAddr + "/readyz")
	})
	s.t.Logf("webhook ready in %s", time.Since(start).Round(time.Millisecond))
}

func (s *suite) testCABundlePatched(t *testing.T, cfg config.Webhook) {
	secret := s.secret(t, cfg.TLS.SecretName)
	bundle := s.caBundle(t, cfg.Registration.Name)
	if len(bundle) == 0 || !bytes.Equal(bundle, secret.Data["ca.crt"]) {
		t.Fatalf("caBundle (%d bytes) is not the Secret's ca.crt (%d bytes)", len(bundle), len(secret.Data["ca.crt"]))
	}
	served := servedCert(t, cfg)
	if _, err := served.Verify(x509.VerifyOptions{Roots: pool(t, bundle), DNSName: "localhost"}); err != nil {
		t.Fatalf("the served certificate does not verify against the caBundle: %v", err)
	}
	if !slices.Contains(served.DNSNames, cfg.ServiceDNSName()) {
		t.Fatalf("served certificate names %v, want %s among them", served.DNSNames, cfg.ServiceDNSName())
	}
}

func (s *suite) testInjected(t *testing.T) {
	ns := s.createNamespace("shop", map[string]string{config.LabelInject: "enabled"}, nil)
	rs := s.createReplicaSet(ns, "checkout-5c8d7f9b4")
	before := testutil.ToFloat64(webhook.Pods.WithLabelValues(webhook.ResultInjected, ""))
	pod := newPod(ns, "", withOwner(rs), withLabels(map[string]string{"pod-template-hash": "5c8d7f9b4"}),
		withAnnotations(map[string]string{"podtap.io/ports": "8080", "podtap.io/log-level": "debug"}))
	s.create(pod)

	c := podtapContainer(t, pod)
	if !isInit(pod, c) || pod.Spec.InitContainers[0].Name != webhook.ContainerName {
		t.Fatal("podtap is not the first init container on a 1.37 API server")
	}
	if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Fatalf("stored restartPolicy %v, want Always", c.RestartPolicy)
	}
	if pod.Labels[config.LabelInjected] != "true" {
		t.Fatalf("labels %v lack %s=true", pod.Labels, config.LabelInjected)
	}
	st := status(t, pod)
	if st != (webhook.Status{Version: envtestVersion, Container: webhook.ContainerName, Interface: "eth0", Native: true}) {
		t.Fatalf("status %+v", st)
	}
	if got := pod.Annotations[webhook.DefaultContainerAnnotation]; got != "app" {
		t.Fatalf("default container %q, want app", got)
	}
	sc := loadSidecar(t, pod, c)
	if !slices.Equal(sc.Capture.Ports, []int{8080}) || sc.Log.Level != "debug" || sc.Pod.Workload != "Deployment/checkout" {
		t.Fatalf("the sidecar loads ports %v, log level %q, workload %q", sc.Capture.Ports, sc.Log.Level, sc.Pod.Workload)
	}
	sec := c.SecurityContext
	if sec == nil || !slices.Equal(sec.Capabilities.Add, []corev1.Capability{"NET_RAW"}) || !*sec.ReadOnlyRootFilesystem {
		t.Fatalf("security context %+v", sec)
	}
	s.waitEvent(t, ns, rs.Name, webhook.EventInjected, "Injected podtap")
	if after := testutil.ToFloat64(webhook.Pods.WithLabelValues(webhook.ResultInjected, "")); after != before+1 {
		t.Fatalf("injections counted %v -> %v, want +1", before, after)
	}
}

func (s *suite) testUnlabelled(t *testing.T) {
	ns := s.createNamespace("plain", nil, nil)
	pod := newPod(ns, "plain-app")
	s.create(pod)
	assertNotInjected(t, pod)
}

func (s *suite) testOptedOut(t *testing.T) {
	pod := newPod("shop", "opted-out", withLabels(map[string]string{config.LabelInject: "disabled"}))
	s.create(pod)
	assertNotInjected(t, pod)
}

func (s *suite) testPodSecurity(t *testing.T) {
	ns := s.createNamespace("baseline", map[string]string{
		config.LabelInject:                   "enabled",
		"pod-security.kubernetes.io/enforce": "baseline",
	}, nil)
	// The reason is real: this API server rejects NET_RAW here.
	raw := newPod(ns, "net-raw", withLabels(map[string]string{config.LabelInject: "disabled"}))
	raw.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
		Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_RAW"}},
	}
	if err := s.c.Create(context.Background(), raw); !apierrors.IsForbidden(err) {
		t.Fatalf("a NET_RAW pod in a baseline namespace: got %v, want Forbidden", err)
	}

	s.warnings.reset()
	pod := newPod(ns, "guarded")
	s.create(pod)
	assertNotInjected(t, pod)
	if !s.warnings.contains(webhook.SkipPodSecurity) {
		t.Fatalf("no pod_security warning among %q", s.warnings.all())
	}
	s.waitEvent(t, ns, "guarded", webhook.EventSkipped, "Skipped: pod_security")
}

func (s *suite) testWindowsNodeSelector(t *testing.T) {
	pod := newPod("shop", "windows-app")
	pod.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "windows"}
	s.create(pod)
	assertNotInjected(t, pod)
	s.waitEvent(t, "shop", "windows-app", webhook.EventSkipped, "unsupported_os")
}

func (s *suite) testNativeMesh(t *testing.T) {
	pod := newPod("shop", "meshed")
	pod.Spec.InitContainers = []corev1.Container{{
		Name:          "istio-proxy",
		Image:         "docker.io/istio/proxyv2:1.27.0",
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
	}}
	s.create(pod)
	c := podtapContainer(t, pod)
	// Native sidecars stop in reverse order: after the proxy, podtap stops
	// before it, and its last flush still gets out.
	if pod.Spec.InitContainers[0].Name != "istio-proxy" || pod.Spec.InitContainers[1].Name != webhook.ContainerName {
		t.Fatalf("init containers %v, want istio-proxy then podtap", names(pod.Spec.InitContainers))
	}
	if p := pod.Spec.InitContainers[0].RestartPolicy; p == nil || *p != corev1.ContainerRestartPolicyAlways {
		t.Fatal("istio-proxy lost its restartPolicy")
	}
	if sc := loadSidecar(t, pod, c); sc.Capture.Interface != "lo" {
		t.Fatalf("interface %q under a mesh, want lo", sc.Capture.Interface)
	}
	if st := status(t, pod); st.Interface != "lo" || !st.Native {
		t.Fatalf("status %+v", st)
	}
}

func (s *suite) testLegacyAnnotation(t *testing.T) {
	pod := newPod("shop", "legacy", withAnnotations(map[string]string{config.AnnotationNativeSidecar: "false"}))
	s.create(pod)
	c := podtapContainer(t, pod)
	if isInit(pod, c) || pod.Spec.Containers[len(pod.Spec.Containers)-1].Name != webhook.ContainerName {
		t.Fatalf("containers %v, want podtap last", names(pod.Spec.Containers))
	}
	if c.RestartPolicy != nil {
		t.Fatal("a regular container with a restartPolicy")
	}
}

func (s *suite) testInvalidAnnotation(t *testing.T) {
	s.warnings.reset()
	pod := newPod("shop", "half-valid", withAnnotations(map[string]string{
		"podtap.io/sample-rate":  "2",
		"podtap.io/kafka-topic":  "shop.pairs",
		"podtap.io/memory-limit": "128Mi",
	}))
	s.create(pod)
	c := podtapContainer(t, pod)
	sc := loadSidecar(t, pod, c)
	if sc.Capture.SampleRate != 1 || sc.Kafka.Topic != "shop.pairs" {
		t.Fatalf("sample rate %v, topic %q", sc.Capture.SampleRate, sc.Kafka.Topic)
	}
	if got := c.Resources.Limits.Memory().String(); got != "128Mi" {
		t.Fatalf("memory limit %s", got)
	}
	if !s.warnings.contains("podtap.io/sample-rate") {
		t.Fatalf("no warning for the invalid sample rate among %q", s.warnings.all())
	}
	s.waitEvent(t, "shop", "half-valid", webhook.EventInvalidAnnotation, "podtap.io/sample-rate")
}

func (s *suite) testDryRun(t *testing.T) {
	rs := s.createReplicaSet("shop", "dry-7f6c5b4a3")
	before := testutil.ToFloat64(webhook.Pods.WithLabelValues(webhook.ResultInjected, ""))
	pod := newPod("shop", "", withOwner(rs))
	if err := s.c.Create(context.Background(), pod, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	podtapContainer(t, pod)
	if after := testutil.ToFloat64(webhook.Pods.WithLabelValues(webhook.ResultInjected, "")); after != before {
		t.Fatalf("a dry run was counted: %v -> %v", before, after)
	}
	// Events are sent asynchronously; give a stray one time to land.
	time.Sleep(3 * time.Second)
	if evs := s.events(t, "shop", rs.Name); len(evs) != 0 {
		t.Fatalf("a dry run created events: %+v", evs)
	}
}

// testReinvocation registers a second webhook, called after podtap, that
// adds an istio-proxy container the way Istio's injector does. The API
// server then calls podtap again (reinvocation IfNeeded).
func (s *suite) testReinvocation(t *testing.T) {
	istio := httptest.NewUnstartedServer(&admission.Webhook{Handler: admission.HandlerFunc(addIstioProxy)})
	istio.StartTLS()
	t.Cleanup(istio.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: istio.Certificate().Raw})
	reg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "zz-istio-sim"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         "sidecar-injector.istio-sim.test",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr.To(istio.URL + "/inject"), CABundle: caPEM},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"istio-sim": "enabled"}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	s.create(reg)
	t.Cleanup(func() { _ = s.c.Delete(context.Background(), reg) })
	ns := s.createNamespace("meshed", map[string]string{config.LabelInject: "enabled", "istio-sim": "enabled"}, nil)

	before := testutil.ToFloat64(webhook.Pods.WithLabelValues(webhook.ResultInjected, ""))
	pod := newPod(ns, "late-mesh")
	s.create(pod)
	if after := testutil.ToFloat64(webhook.Pods.WithLabelValues(webhook.ResultInjected, "")); after != before+1 {
		t.Fatalf("injections counted %v -> %v over the reinvocation, want +1", before, after)
	}
	if n := count(pod, webhook.ContainerName); n != 1 {
		t.Fatalf("%d podtap containers after reinvocation", n)
	}
	if count(pod, "istio-proxy") != 1 {
		t.Fatalf("the later webhook's proxy is gone: %v", names(pod.Spec.Containers))
	}
	c := podtapContainer(t, pod)
	if sc := loadSidecar(t, pod, c); sc.Capture.Interface != "lo" {
		t.Fatalf("interface %q after a mesh proxy was added, want lo", sc.Capture.Interface)
	}
	if st := status(t, pod); st.Interface != "lo" {
		t.Fatalf("status %+v", st)
	}
}

func addIstioProxy(_ context.Context, req admission.Request) admission.Response {
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if count(&pod, "istio-proxy") > 0 {
		return admission.Allowed("already")
	}
	return admission.Patched("istio-sim",
		jsonpatch.JsonPatchOperation{Operation: "add", Path: "/spec/containers/-", Value: map[string]any{
			"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.27.0",
		}})
}

func (s *suite) testEndpoints(t *testing.T, cfg config.Webhook) {
	for _, url := range []string{"http://" + cfg.Server.HealthAddr + "/healthz", "http://" + cfg.Server.HealthAddr + "/readyz"} {
		if err := httpOK(url); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Get("http://" + cfg.Server.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// The counters are the process's; other tests in this binary count
	// too, so the served value is compared with the in-process one.
	for series, c := range map[string]prometheus.Collector{
		`podtap_webhook_pods_total{reason="",result="injected"}`:                       webhook.Pods.WithLabelValues(webhook.ResultInjected, ""),
		`podtap_webhook_pods_total{reason="pod_security",result="skipped"}`:            webhook.Pods.WithLabelValues(webhook.ResultSkipped, webhook.SkipPodSecurity),
		`podtap_webhook_invalid_annotations_total{annotation="podtap.io/sample-rate"}`: webhook.InvalidAnnotations.WithLabelValues("podtap.io/sample-rate"),
		`podtap_webhook_native_sidecars`:                                               webhook.NativeSidecars,
	} {
		want := testutil.ToFloat64(c)
		if want < 1 {
			t.Errorf("%s is %v in the process, want at least 1", series, want)
		}
		if !strings.Contains(string(body), series+" "+strconv.FormatFloat(want, 'g', -1, 64)+"\n") {
			t.Errorf("/metrics does not serve %s %v", series, want)
		}
	}
}

// testRotation puts a CA about to expire into the Secret, as if a year had
// passed: the rotator must replace it, patch the caBundle, and the webhook
// must keep injecting.
func (s *suite) testRotation(t *testing.T, cfg config.Webhook) {
	ctx := context.Background()
	secret := s.secret(t, cfg.TLS.SecretName)
	oldCA := secret.Data["ca.crt"]
	expiring := newCA(t, time.Hour)
	certPEM, keyPEM := expiring.issue(t, []string{cfg.ServiceDNSName(), "localhost"}, time.Hour)
	secret.Data = map[string][]byte{
		"ca.crt": expiring.certPEM, "ca.key": expiring.keyPEM,
		"tls.crt": certPEM, "tls.key": keyPEM,
	}
	if err := s.c.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var newCAPEM []byte
	eventually(t, 2*time.Minute, func() error {
		sec := s.secret(t, cfg.TLS.SecretName)
		ca := sec.Data["ca.crt"]
		if bytes.Equal(ca, oldCA) || bytes.Equal(ca, expiring.certPEM) {
			return errors.New("the CA is not replaced yet")
		}
		if !bytes.Equal(s.caBundle(t, cfg.Registration.Name), ca) {
			return errors.New("the caBundle is not patched yet")
		}
		if _, err := servedCert(t, cfg).Verify(x509.VerifyOptions{Roots: pool(t, ca), DNSName: "localhost"}); err != nil {
			return fmt.Errorf("the served certificate is not from the new CA yet: %w", err)
		}
		newCAPEM = ca
		return nil
	})
	t.Logf("CA rotated, caBundle patched and new certificate served in %s", time.Since(start).Round(time.Millisecond))
	block, _ := pem.Decode(newCAPEM)
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(ca.NotAfter) < cfg.TLS.RenewBefore {
		t.Fatalf("the new CA expires %s, within the renewal window", ca.NotAfter)
	}
	pod := newPod("shop", "after-rotation")
	s.create(pod)
	podtapContainer(t, pod)
}

func (s *suite) testStopped(t *testing.T) {
	start := time.Now()
	pod := newPod("shop", "webhook-down")
	s.create(pod)
	assertNotInjected(t, pod)
	t.Logf("pod created without the webhook in %s", time.Since(start).Round(time.Millisecond))
}

// testCertManager plays cert-manager: it writes the Secret and, later,
// the caBundle, as its CA injector does. The webhook must not serve before
// the caBundle trusts the certificate.
func (s *suite) testCertManager(t *testing.T) {
	ctx := context.Background()
	cfg := s.webhookConfig(config.TLSCertManager, "podtap-webhook-cm")
	reg := webhook.Registration(&cfg, nil)
	if reg.Annotations[webhook.CertManagerInjectAnnotation] != "podtap-system/podtap-webhook" {
		t.Fatalf("registration annotations %v", reg.Annotations)
	}
	current := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := s.c.Get(ctx, types.NamespacedName{Name: reg.Name}, current); err != nil {
		t.Fatal(err)
	}
	reg.ResourceVersion = current.ResourceVersion
	if err := s.c.Update(ctx, reg); err != nil {
		t.Fatal(err)
	}
	ca := newCA(t, 24*time.Hour)
	certPEM, keyPEM := ca.issue(t, []string{cfg.ServiceDNSName(), "localhost"}, 24*time.Hour)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: cfg.Namespace, Name: cfg.TLS.SecretName},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"ca.crt": ca.certPEM, "tls.crt": certPEM, "tls.key": keyPEM},
	}
	s.create(secret)
	stop := s.run(cfg)
	defer stop()

	time.Sleep(3 * time.Second)
	if err := httpOK("http://" + cfg.Server.HealthAddr + "/readyz"); err == nil {
		t.Fatal("ready before the caBundle trusts the certificate")
	}
	if _, err := os.Stat(filepath.Join(cfg.Server.CertDir, "tls.crt")); err == nil {
		t.Fatal("the certificate was written before the caBundle trusts it")
	}

	if err := s.c.Get(ctx, types.NamespacedName{Name: reg.Name}, current); err != nil {
		t.Fatal(err)
	}
	for i := range current.Webhooks {
		current.Webhooks[i].ClientConfig.CABundle = ca.certPEM
	}
	if err := s.c.Update(ctx, current); err != nil {
		t.Fatal(err)
	}
	s.waitServing(cfg)
	pod := newPod("shop", "cert-manager")
	s.create(pod)
	podtapContainer(t, pod)
}

// testFiles serves a mounted directory: the operator replaces the files
// and the webhook serves the new certificate without a restart.
func (s *suite) testFiles(t *testing.T) {
	ctx := context.Background()
	cfg := s.webhookConfig(config.TLSFiles, "")
	first, second := newCA(t, 24*time.Hour), newCA(t, 24*time.Hour)
	write := func(ca *testCA) {
		certPEM, keyPEM := ca.issue(t, []string{"localhost"}, 24*time.Hour)
		for name, data := range map[string][]byte{"tls.key": keyPEM, "tls.crt": certPEM} {
			if err := os.WriteFile(filepath.Join(cfg.Server.CertDir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	current := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := s.c.Get(ctx, types.NamespacedName{Name: cfg.Registration.Name}, current); err != nil {
		t.Fatal(err)
	}
	reg := webhook.Registration(&cfg, append(append([]byte{}, first.certPEM...), second.certPEM...))
	reg.ResourceVersion = current.ResourceVersion
	if err := s.c.Update(ctx, reg); err != nil {
		t.Fatal(err)
	}
	write(first)
	stop := s.run(cfg)
	defer stop()
	s.waitServing(cfg)
	if got := servedCert(t, cfg); got.CheckSignatureFrom(first.cert) != nil {
		t.Fatal("the served certificate is not the mounted one")
	}
	write(second)
	start := time.Now()
	eventually(t, time.Minute, func() error {
		if servedCert(t, cfg).CheckSignatureFrom(second.cert) != nil {
			return errors.New("the replaced certificate is not served yet")
		}
		return nil
	})
	t.Logf("replaced certificate served after %s", time.Since(start).Round(time.Millisecond))
	pod := newPod("shop", "files-mode")
	s.create(pod)
	podtapContainer(t, pod)
}

// Helpers.

func (s *suite) create(obj client.Object) {
	s.t.Helper()
	if err := s.c.Create(context.Background(), obj); err != nil {
		s.t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func (s *suite) createNamespace(name string, labels, annotations map[string]string) string {
	s.t.Helper()
	s.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations}})
	return name
}

// createReplicaSet makes an owner for pods; no controller runs here, so it
// creates no pods itself.
func (s *suite) createReplicaSet(ns, name string) *appsv1.ReplicaSet {
	s.t.Helper()
	labels := map[string]string{"app": name}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(int32(0)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
			},
		},
	}
	s.create(rs)
	return rs
}

type podOption func(*corev1.Pod)

func withOwner(rs *appsv1.ReplicaSet) podOption {
	return func(p *corev1.Pod) {
		p.GenerateName = rs.Name + "-"
		p.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID,
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
		}}
	}
}

func withLabels(l map[string]string) podOption {
	return func(p *corev1.Pod) {
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		for k, v := range l {
			p.Labels[k] = v
		}
	}
}

func withAnnotations(a map[string]string) podOption {
	return func(p *corev1.Pod) { p.Annotations = a }
}

func newPod(ns, name string, opts ...podOption) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "app",
			Image: "registry.example/app:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func podtapContainer(t *testing.T, pod *corev1.Pod) *corev1.Container {
	t.Helper()
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == webhook.ContainerName {
				return &list[i]
			}
		}
	}
	t.Fatalf("pod %s/%s was not injected: init %v, containers %v", pod.Namespace, pod.Name,
		names(pod.Spec.InitContainers), names(pod.Spec.Containers))
	return nil
}

func assertNotInjected(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if n := count(pod, webhook.ContainerName); n != 0 {
		t.Fatalf("pod %s/%s was injected", pod.Namespace, pod.Name)
	}
	if _, ok := pod.Annotations[config.AnnotationStatus]; ok {
		t.Fatal("an uninjected pod carries a status")
	}
}

func isInit(pod *corev1.Pod, c *corev1.Container) bool {
	for i := range pod.Spec.InitContainers {
		if &pod.Spec.InitContainers[i] == c {
			return true
		}
	}
	return false
}

func count(pod *corev1.Pod, name string) int {
	n := 0
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name == name {
				n++
			}
		}
	}
	return n
}

func names(cs []corev1.Container) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

func status(t *testing.T, pod *corev1.Pod) webhook.Status {
	t.Helper()
	var st webhook.Status
	if err := json.Unmarshal([]byte(pod.Annotations[config.AnnotationStatus]), &st); err != nil {
		t.Fatalf("status annotation %q: %v", pod.Annotations[config.AnnotationStatus], err)
	}
	return st
}

// loadSidecar resolves the stored container's env as the kubelet would and
// loads it with the sidecar's own loader.
func loadSidecar(t *testing.T, pod *corev1.Pod, c *corev1.Container) config.Sidecar {
	t.Helper()
	fields := map[string]string{
		"metadata.name":      "resolved-name",
		"metadata.namespace": pod.Namespace,
		"metadata.uid":       "0b7d5a52-2b8e-4d5b-9d3c-6b1f1c2e3a4d",
		"spec.nodeName":      "node-a",
		"status.podIPs":      "10.244.1.7",
	}
	var env []string
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			v, ok := fields[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				t.Fatalf("unexpected env source %+v", e.ValueFrom)
			}
			env = append(env, e.Name+"="+v)
			continue
		}
		env = append(env, e.Name+"="+e.Value)
	}
	sc, err := config.LoadSidecar(config.Source{Env: env})
	if err != nil {
		t.Fatalf("the sidecar rejects the stored env: %v", err)
	}
	return sc
}

func (s *suite) secret(t *testing.T, name string) *corev1.Secret {
	t.Helper()
	sec := &corev1.Secret{}
	if err := s.c.Get(context.Background(), types.NamespacedName{Namespace: "podtap-system", Name: name}, sec); err != nil {
		t.Fatal(err)
	}
	return sec
}

func (s *suite) caBundle(t *testing.T, name string) []byte {
	t.Helper()
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := s.c.Get(context.Background(), types.NamespacedName{Name: name}, mwc); err != nil {
		t.Fatal(err)
	}
	return mwc.Webhooks[0].ClientConfig.CABundle
}

func (s *suite) events(t *testing.T, ns, regarding string) []eventsv1.Event {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := s.c.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == regarding {
			out = append(out, e)
		}
	}
	return out
}

func (s *suite) waitEvent(t *testing.T, ns, regarding, reason, note string) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		for _, e := range s.events(t, ns, regarding) {
			if e.Reason == reason && strings.Contains(e.Note, note) && e.ReportingController == "podtap-webhook" {
				return nil
			}
		}
		return fmt.Errorf("no %s event containing %q on %s/%s", reason, note, ns, regarding)
	})
}

func servedCert(t *testing.T, cfg config.Webhook) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", net.JoinHostPort(cfg.Server.Host, strconv.Itoa(cfg.Server.Port)),
		&tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("dialling the webhook: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

func pool(t *testing.T, pemBytes []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no certificate in the PEM")
	}
	return p
}

func httpOK(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
	}
	return nil
}

func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// testCA is a CA in the layout of cert-controller's Secret (PKCS#1 key).
type testCA struct {
	cert    *x509.Certificate
	key     *rsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

func newCA(t *testing.T, validity time.Duration) *testCA {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "podtap-webhook-ca", Organization: []string{"podtap"}},
		DNSNames:              []string{"podtap-webhook-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
	}
}

func (ca *testCA) issue(t *testing.T, dnsNames []string, validity time.Duration) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: dnsNames[0]},
		DNSNames:     dnsNames,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// warnings collects the admission warnings the API server relays.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = nil
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}

func (w *warnings) contains(sub string) bool {
	for _, s := range w.all() {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
