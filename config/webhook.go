package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Webhook is the whole configuration of podtap-webhook. It is loaded like
// the sidecar's (file, PODTAP_* env, flags); the field comments document
// each key and its default.
type Webhook struct {
	// Namespace is the namespace the webhook runs in. Its pods are never
	// injected, and it holds the certificate Secret and the leader-election
	// Lease. The downward-API env POD_NAMESPACE also sets it.
	// Default "podtap-system".
	Namespace      string          `mapstructure:"namespace"`
	Server         WebhookServer   `mapstructure:"server"`
	TLS            WebhookTLS      `mapstructure:"tls"`
	Registration   Registration    `mapstructure:"registration"`
	LeaderElection LeaderElection  `mapstructure:"leader_election"`
	Injection      Injection       `mapstructure:"injection"`
	Sidecar        SidecarTemplate `mapstructure:"sidecar"`
	Receiver       WebhookReceiver `mapstructure:"receiver"`
	Log            Log             `mapstructure:"log"`
}

// WebhookServer configures the endpoints the webhook serves.
type WebhookServer struct {
	// Host is the address the admission endpoint listens on; empty means
	// all addresses. Default empty.
	Host string `mapstructure:"host"`
	// Port serves the admission endpoint (/mutate-v1-pod) over TLS.
	// Default 9443.
	Port int `mapstructure:"port"`
	// CertDir holds tls.crt and tls.key. In "auto" and "cert-manager" modes
	// the webhook writes them there from the Secret, so it must be writable
	// (an emptyDir); in "files" mode it is the mounted certificate.
	// Default "/tmp/k8s-webhook-server/serving-certs".
	CertDir string `mapstructure:"cert_dir"`
	// MetricsAddr serves /metrics over plain HTTP; "0" turns it off.
	// Default ":8080".
	MetricsAddr string `mapstructure:"metrics_addr"`
	// HealthAddr serves /healthz and /readyz over plain HTTP.
	// Default ":8081".
	HealthAddr string `mapstructure:"health_addr"`
}

// TLS modes of the admission endpoint.
const (
	// TLSAuto keeps a self-signed CA and serving certificate in a Secret,
	// rotates them and patches the caBundle of the registration.
	TLSAuto = "auto"
	// TLSCertManager serves the Secret that a cert-manager Certificate
	// fills; cert-manager's CA injector patches the caBundle.
	TLSCertManager = "cert-manager"
	// TLSFiles serves a mounted certificate directory, reloaded on change;
	// the caBundle is the operator's business.
	TLSFiles = "files"
)

// WebhookTLS configures the serving certificate.
type WebhookTLS struct {
	// Mode is "auto", "cert-manager" or "files" (see TLSAuto...).
	// Default "auto".
	Mode string `mapstructure:"mode"`
	// SecretName is the Secret, in Namespace, holding tls.crt, tls.key and
	// ca.crt: written by the webhook in "auto" mode, by cert-manager in
	// "cert-manager" mode. Default "podtap-webhook-tls".
	SecretName string `mapstructure:"secret_name"`
	// Certificate is the cert-manager Certificate, in Namespace, named by
	// the registration's cert-manager.io/inject-ca-from annotation.
	// Default "podtap-webhook".
	Certificate string `mapstructure:"certificate"`
	// ExtraDNSNames are added to the serving certificate in "auto" mode,
	// besides <registration.service>.<namespace>.svc. Default empty.
	ExtraDNSNames []string `mapstructure:"extra_dns_names"`
	// CAValidity is the lifetime of the self-signed CA ("auto").
	// Default 87600h (10 years).
	CAValidity time.Duration `mapstructure:"ca_validity"`
	// CertValidity is the lifetime of the serving certificate ("auto").
	// Default 8760h (1 year).
	CertValidity time.Duration `mapstructure:"cert_validity"`
	// RenewBefore renews the CA or the serving certificate when it expires
	// within this window ("auto"). Default 2160h (90 days).
	RenewBefore time.Duration `mapstructure:"renew_before"`
	// CheckInterval is how often expiry is checked ("auto"). Default 1h.
	CheckInterval time.Duration `mapstructure:"check_interval"`
}

// Registration describes the MutatingWebhookConfiguration that sends pods
// to the webhook. The chart renders the same object.
type Registration struct {
	// Name of the MutatingWebhookConfiguration. Default "podtap".
	Name string `mapstructure:"name"`
	// Service is the Service in front of the webhook, in Namespace.
	// Default "podtap-webhook".
	Service string `mapstructure:"service"`
	// ServicePort is the Service's port. Default 443.
	ServicePort int `mapstructure:"service_port"`
	// URL, when set, is called instead of the Service: a webhook running
	// outside the cluster. It must be https. Default empty.
	URL string `mapstructure:"url"`
	// Timeout bounds one admission call; past it the API server admits the
	// pod without podtap (failurePolicy Ignore). 1s to 30s. Default 5s.
	Timeout time.Duration `mapstructure:"timeout"`
}

// LeaderElection elects the replica that rotates certificates. Every
// replica serves admission requests.
type LeaderElection struct {
	// Enabled turns leader election on. Default true.
	Enabled bool `mapstructure:"enabled"`
	// ID names the Lease, in Namespace. Default "podtap-webhook".
	ID string `mapstructure:"id"`
}

// Native-sidecar modes of Injection.NativeSidecar.
const (
	NativeAuto   = "auto"
	NativeAlways = "true"
	NativeNever  = "false"
)

// Injection decides which pods get the sidecar and how.
type Injection struct {
	// ExcludedNamespaces are never injected. kube-system, kube-public,
	// kube-node-lease and Namespace are always excluded, whatever is set.
	// Default kube-system, kube-public, kube-node-lease.
	ExcludedNamespaces []string `mapstructure:"excluded_namespaces"`
	// NativeSidecar is "auto" (a native sidecar when the API server is 1.29
	// or newer), "true" or "false". The podtap.io/native-sidecar annotation
	// overrides it per pod. Default "auto".
	NativeSidecar string `mapstructure:"native_sidecar"`
	// VersionRefresh is how often "auto" asks the API server its version
	// again, so an upgraded control plane is noticed. Default 10m.
	VersionRefresh time.Duration `mapstructure:"version_refresh"`
	// AllowImageOverride honours the podtap.io/image annotation. Off, a pod
	// cannot choose what runs with NET_RAW next to it. Default false.
	AllowImageOverride bool `mapstructure:"allow_image_override"`
	// AllowTLSCapture honours podtap.io/tls. Off, no pod's sidecar gets the
	// capabilities of TLS capture (config.TLSCaptureCapabilities) nor a
	// shared PID namespace, and the annotation is ignored with the reason
	// in the pod's status and an Event. Default true.
	AllowTLSCapture bool `mapstructure:"allow_tls_capture"`
	// AdmissionCheck dry-runs injected pods (see AdmissionCheck).
	AdmissionCheck AdmissionCheck `mapstructure:"admission_check"`
}

// SidecarTemplate is the container the webhook injects.
type SidecarTemplate struct {
	// Image of podtap-sidecar. Without a tag or digest, the webhook adds
	// its own version, so that a webhook and the sidecars it injects match
	// and never float with a moving tag. Default
	// "ghcr.io/podtap/podtap-sidecar" (tagged with the webhook's version).
	Image string `mapstructure:"image"`
	// ImagePullPolicy is "Always", "IfNotPresent" or "Never".
	// Default "IfNotPresent".
	ImagePullPolicy string `mapstructure:"image_pull_policy"`
	// ImagePullSecrets are added to an injected pod's imagePullSecrets
	// when it lacks them (see validateImagePullSecrets). Default empty.
	ImagePullSecrets []string `mapstructure:"image_pull_secrets"`
	// CPURequest, CPULimit, MemoryRequest and MemoryLimit are Kubernetes
	// quantities; empty means unset. The memory limit also sets GOMEMLIMIT,
	// a CPU limit of at most 1 GOMAXPROCS=1. Defaults 50m, none, 64Mi,
	// 256Mi.
	CPURequest    string `mapstructure:"cpu_request"`
	CPULimit      string `mapstructure:"cpu_limit"`
	MemoryRequest string `mapstructure:"memory_request"`
	MemoryLimit   string `mapstructure:"memory_limit"`
	// RunAsUser is the sidecar's uid; only 0 is accepted (see
	// runAsRootReason). Default 0.
	RunAsUser int64 `mapstructure:"run_as_user"`
	// Settings configure the injected podtap-sidecar: any of its keys, with
	// its own defaults. Keys that differ from the sidecar's defaults are
	// passed as PODTAP_* env; podtap.io/* annotations override the keys
	// they name. pod.* come from the downward API and cannot be set here.
	Settings Sidecar `mapstructure:"settings"`
	// KafkaSecrets name the Secrets that hold the sidecar's Kafka
	// credentials in each injected pod's own namespace.
	KafkaSecrets KafkaSecrets `mapstructure:"kafka_secrets"`
}

// KafkaSecrets name Secrets that every opted-in namespace provides itself.
// The sidecar runs in the workload's namespace and a pod can only mount
// Secrets of its own namespace; referencing them, instead of having the
// webhook copy one Secret everywhere, keeps the webhook without any
// cluster-wide Secret access and lets each namespace hold its own Kafka
// identity. The webhook mounts them with optional: true, so a missing
// Secret never stops the kubelet from starting the pod; the sidecar then
// names the missing file. They apply with the Kafka sink only.
type KafkaSecrets struct {
	// TLS names a Secret with ca.crt, the CA of the brokers' certificates
	// (kafka.tls.ca_file), and with TLSClientCert also tls.crt and tls.key
	// (kafka.tls.cert_file, key_file). It needs
	// sidecar.settings.kafka.tls.enabled. Default empty: none.
	TLS string `mapstructure:"tls"`
	// TLSClientCert authenticates the sidecar to the brokers with the TLS
	// Secret's tls.crt and tls.key. Default false.
	TLSClientCert bool `mapstructure:"tls_client_cert"`
	// SASL names a Secret with username and password (a
	// kubernetes.io/basic-auth Secret) read for
	// sidecar.settings.kafka.sasl.mechanism. Files rather than env, so a
	// rotated password reaches the sidecar at its next authentication
	// without a restart. Default empty: none.
	SASL string `mapstructure:"sasl"`
}

// DefaultWebhook returns the webhook configuration with every default set;
// the field comments document each one.
func DefaultWebhook() Webhook {
	return Webhook{
		Namespace: "podtap-system",
		Server: WebhookServer{
			Port:        9443,
			CertDir:     "/tmp/k8s-webhook-server/serving-certs",
			MetricsAddr: ":8080",
			HealthAddr:  ":8081",
		},
		TLS: WebhookTLS{
			Mode:          TLSAuto,
			SecretName:    "podtap-webhook-tls",
			Certificate:   "podtap-webhook",
			CAValidity:    10 * 365 * 24 * time.Hour,
			CertValidity:  365 * 24 * time.Hour,
			RenewBefore:   90 * 24 * time.Hour,
			CheckInterval: time.Hour,
		},
		Registration: Registration{
			Name:        "podtap",
			Service:     "podtap-webhook",
			ServicePort: 443,
			Timeout:     5 * time.Second,
		},
		LeaderElection: LeaderElection{Enabled: true, ID: "podtap-webhook"},
		Injection: Injection{
			ExcludedNamespaces: slices.Clone(SystemNamespaces),
			NativeSidecar:      NativeAuto,
			VersionRefresh:     10 * time.Minute,
			AllowTLSCapture:    true,
			AdmissionCheck:     DefaultAdmissionCheck(),
		},
		Sidecar: SidecarTemplate{
			Image:           "ghcr.io/podtap/podtap-sidecar",
			ImagePullPolicy: "IfNotPresent",
			CPURequest:      "50m",
			MemoryRequest:   "64Mi",
			MemoryLimit:     "256Mi",
			Settings:        DefaultSidecar(),
		},
		Receiver: WebhookReceiver{Service: "podtap-receiver"},
		Log:      Log{Level: "info", Format: "json"},
	}
}

// LoadWebhook loads, normalises and validates the webhook configuration.
func LoadWebhook(src Source) (Webhook, error) {
	cfg := DefaultWebhook()
	if err := load(src, &cfg); err != nil {
		return cfg, err
	}
	cfg.Sidecar.Settings.Normalize()
	if cfg.Sidecar.Settings.Tunnel.Target == "" {
		cfg.Sidecar.Settings.Tunnel.Target = cfg.ReceiverTarget()
	}
	return cfg, cfg.Validate()
}

// SystemNamespaces are never injected: the control plane must not depend on
// a webhook, and the node lease must never wait for one.
var SystemNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

// Excluded lists every namespace the webhook never injects: the system
// ones, its own, and the configured ones, without duplicates.
func (c *Webhook) Excluded() []string {
	seen := map[string]bool{}
	var out []string
	for _, list := range [][]string{SystemNamespaces, {c.Namespace}, c.Injection.ExcludedNamespaces} {
		for _, ns := range list {
			if ns != "" && !seen[ns] {
				seen[ns] = true
				out = append(out, ns)
			}
		}
	}
	return out
}

// ServiceDNSName is the name the serving certificate must carry for the
// API server to reach the webhook through its Service.
func (c *Webhook) ServiceDNSName() string {
	return c.Registration.Service + "." + c.Namespace + ".svc"
}

// HealthPort is the port of the sidecar's /healthz and /readyz, from
// sidecar.settings.metrics.addr.
func (t *SidecarTemplate) HealthPort() (int, error) {
	_, port, err := net.SplitHostPort(t.Settings.Metrics.Addr)
	if err != nil {
		return 0, fmt.Errorf("sidecar.settings.metrics.addr: %q: %w", t.Settings.Metrics.Addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("sidecar.settings.metrics.addr: %q has no port from 1 to 65535", t.Settings.Metrics.Addr)
	}
	return n, nil
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// Validate checks every value. Each problem names its key and what is
// accepted.
func (c *Webhook) Validate() error {
	var errs []error
	bad := func(key string, got any, accepted string) {
		errs = append(errs, fmt.Errorf("%s: %v is not accepted; want %s", key, got, accepted))
	}
	if !dnsLabel.MatchString(c.Namespace) {
		bad("namespace", strconv.Quote(c.Namespace), "a namespace name")
	}
	if c.Server.Port < 1 || c.Server.Port > 65535 {
		bad("server.port", c.Server.Port, "1 to 65535")
	}
	if c.Server.CertDir == "" {
		bad("server.cert_dir", `""`, "a directory")
	}
	switch c.TLS.Mode {
	case TLSAuto, TLSCertManager, TLSFiles:
	default:
		bad("tls.mode", strconv.Quote(c.TLS.Mode), `"auto", "cert-manager" or "files"`)
	}
	if c.TLS.Mode != TLSFiles && !dnsLabel.MatchString(c.TLS.SecretName) {
		bad("tls.secret_name", strconv.Quote(c.TLS.SecretName), "a Secret name")
	}
	if c.TLS.Mode == TLSCertManager && !dnsLabel.MatchString(c.TLS.Certificate) {
		bad("tls.certificate", strconv.Quote(c.TLS.Certificate), "a Certificate name")
	}
	if c.TLS.Mode == TLSAuto {
		if c.TLS.CertValidity <= c.TLS.RenewBefore {
			bad("tls.cert_validity", c.TLS.CertValidity, "longer than tls.renew_before")
		}
		if c.TLS.CAValidity <= c.TLS.RenewBefore {
			bad("tls.ca_validity", c.TLS.CAValidity, "longer than tls.renew_before")
		}
		if c.TLS.CheckInterval <= 0 || c.TLS.CheckInterval >= c.TLS.RenewBefore {
			bad("tls.check_interval", c.TLS.CheckInterval, "a positive duration shorter than tls.renew_before")
		}
	}
	if !dnsLabel.MatchString(c.Registration.Name) {
		bad("registration.name", strconv.Quote(c.Registration.Name), "an object name")
	}
	if c.Registration.URL == "" {
		if !dnsLabel.MatchString(c.Registration.Service) {
			bad("registration.service", strconv.Quote(c.Registration.Service), "a Service name")
		}
		if c.Registration.ServicePort < 1 || c.Registration.ServicePort > 65535 {
			bad("registration.service_port", c.Registration.ServicePort, "1 to 65535")
		}
	} else if u, err := url.Parse(c.Registration.URL); err != nil || u.Scheme != "https" || u.Host == "" {
		bad("registration.url", c.Registration.URL, "an https:// URL")
	}
	if c.Registration.Timeout < time.Second || c.Registration.Timeout > 30*time.Second ||
		c.Registration.Timeout%time.Second != 0 {
		bad("registration.timeout", c.Registration.Timeout, "whole seconds from 1s to 30s")
	}
	if c.LeaderElection.Enabled && !dnsLabel.MatchString(c.LeaderElection.ID) {
		bad("leader_election.id", strconv.Quote(c.LeaderElection.ID), "a Lease name")
	}
	for _, ns := range c.Injection.ExcludedNamespaces {
		if !dnsLabel.MatchString(ns) {
			bad("injection.excluded_namespaces", strconv.Quote(ns), "namespace names")
		}
	}
	switch c.Injection.NativeSidecar {
	case NativeAuto, NativeAlways, NativeNever:
	default:
		bad("injection.native_sidecar", strconv.Quote(c.Injection.NativeSidecar), `"auto", "true" or "false"`)
	}
	if c.Injection.VersionRefresh <= 0 {
		bad("injection.version_refresh", c.Injection.VersionRefresh, "a positive duration such as 10m")
	}
	errs = append(errs, c.Injection.AdmissionCheck.validate(c.Registration.Timeout, c.Injection.AllowTLSCapture)...)
	errs = append(errs, c.validateTLSCapture()...)
	if !dnsLabel.MatchString(c.Receiver.Service) {
		bad("receiver.service", strconv.Quote(c.Receiver.Service), "a Service name")
	}
	errs = append(errs, c.Sidecar.validate()...)
	errs = append(errs, c.Log.validate()...)
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("config: %w", errors.Join(errs...))
}

func (t *SidecarTemplate) validate() []error {
	var errs []error
	if err := checkImage(t.Image); err != nil {
		errs = append(errs, fmt.Errorf("sidecar.image: %w", err))
	}
	switch t.ImagePullPolicy {
	case "Always", "IfNotPresent", "Never":
	default:
		errs = append(errs, fmt.Errorf(`sidecar.image_pull_policy: %q is not accepted; want "Always", "IfNotPresent" or "Never"`, t.ImagePullPolicy))
	}
	res, err := t.Resources()
	if err != nil {
		errs = append(errs, err)
	} else if err := res.check(); err != nil {
		errs = append(errs, fmt.Errorf("sidecar: %w", err))
	}
	if t.RunAsUser != 0 {
		errs = append(errs, fmt.Errorf("sidecar.run_as_user: %d is not accepted; want 0: %s", t.RunAsUser, runAsRootReason))
	}
	errs = append(errs, validateImagePullSecrets(t.ImagePullSecrets)...)
	errs = append(errs, t.KafkaSecrets.validate(t.Settings.Kafka)...)
	if !reflect.DeepEqual(t.Settings.Pod, Pod{}) {
		errs = append(errs, errors.New("sidecar.settings.pod: set by the webhook from the downward API; remove it"))
	}
	if _, err := t.HealthPort(); err != nil {
		errs = append(errs, fmt.Errorf("%w (the injected probes need it)", err))
	}
	if err := t.Settings.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("sidecar.settings: %w", err))
	}
	return errs
}

// secretName is a Secret's name: a DNS subdomain.
var secretName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func (k KafkaSecrets) validate(kafka Kafka) []error {
	var errs []error
	for _, s := range []struct{ key, name string }{{"sidecar.kafka_secrets.tls", k.TLS}, {"sidecar.kafka_secrets.sasl", k.SASL}} {
		if s.name != "" && (len(s.name) > 253 || !secretName.MatchString(s.name)) {
			errs = append(errs, fmt.Errorf("%s: %q is not accepted; want a Secret name", s.key, s.name))
		}
	}
	if k.TLS != "" && !kafka.TLS.Enabled {
		errs = append(errs, errors.New("sidecar.kafka_secrets.tls: needs sidecar.settings.kafka.tls.enabled: true"))
	}
	if k.TLSClientCert && k.TLS == "" {
		errs = append(errs, errors.New("sidecar.kafka_secrets.tls_client_cert: needs sidecar.kafka_secrets.tls, the Secret holding tls.crt and tls.key"))
	}
	if k.SASL != "" && kafka.SASL.Mechanism == "" {
		errs = append(errs, errors.New("sidecar.kafka_secrets.sasl: needs sidecar.settings.kafka.sasl.mechanism"))
	}
	return errs
}

// Resources are the sidecar container's requests and limits; nil means
// unset.
type Resources struct {
	CPURequest, CPULimit, MemoryRequest, MemoryLimit *resource.Quantity
}

// Resources parses the template's quantities.
func (t *SidecarTemplate) Resources() (Resources, error) {
	var r Resources
	var errs []error
	for _, f := range []struct {
		key, val string
		dst      **resource.Quantity
	}{
		{"sidecar.cpu_request", t.CPURequest, &r.CPURequest},
		{"sidecar.cpu_limit", t.CPULimit, &r.CPULimit},
		{"sidecar.memory_request", t.MemoryRequest, &r.MemoryRequest},
		{"sidecar.memory_limit", t.MemoryLimit, &r.MemoryLimit},
	} {
		if f.val == "" {
			continue
		}
		q, err := parsePositiveQuantity(f.val)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.key, err))
			continue
		}
		*f.dst = &q
	}
	return r, errors.Join(errs...)
}

// check rejects a request above its limit, which the API server would
// reject, and the pod with it.
func (r Resources) check() error {
	if r.CPURequest != nil && r.CPULimit != nil && r.CPURequest.Cmp(*r.CPULimit) > 0 {
		return fmt.Errorf("cpu request %s exceeds the cpu limit %s", r.CPURequest, r.CPULimit)
	}
	if r.MemoryRequest != nil && r.MemoryLimit != nil && r.MemoryRequest.Cmp(*r.MemoryLimit) > 0 {
		return fmt.Errorf("memory request %s exceeds the memory limit %s", r.MemoryRequest, r.MemoryLimit)
	}
	return nil
}

// quantityExponent finds a decimal exponent ("1e3"). Arithmetic on a
// quantity with a huge one ("1e999999999") takes minutes, so admission
// refuses such values before touching them.
var quantityExponent = regexp.MustCompile(`[eE][+-]?([0-9]+)$`)

func parsePositiveQuantity(s string) (resource.Quantity, error) {
	if m := quantityExponent.FindStringSubmatch(s); len(s) > 64 || (m != nil && len(strings.TrimLeft(m[1], "0")) > 2) {
		return resource.Quantity{}, fmt.Errorf("%q is not accepted; want a quantity such as 100m, 0.5, 64Mi, with an exponent below 100", s)
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return q, fmt.Errorf("%q is not a quantity (want e.g. 100m, 0.5, 64Mi)", s)
	}
	if q.Sign() <= 0 {
		return q, fmt.Errorf("%q is not accepted; want a positive quantity", s)
	}
	return q, nil
}

// imageRef is a container image reference: [registry[:port]/]path[:tag][@digest].
var imageRef = regexp.MustCompile(`^` +
	// A registry is told from a path component by a dot, a port or
	// "localhost", as Docker's reference grammar does.
	`(?:(?:(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+)(?::[0-9]+)?|[a-zA-Z0-9-]+:[0-9]+)/)?` +
	`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` +
	`(?::[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})?` +
	`(?:@sha256:[a-f0-9]{64})?$`)

func checkImage(s string) error {
	if len(s) > 4096 || !imageRef.MatchString(s) {
		return fmt.Errorf("%q is not accepted; want an image reference such as registry.example/podtap/podtap-sidecar:v1", s)
	}
	return nil
}
