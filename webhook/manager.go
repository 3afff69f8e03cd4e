package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/webhook/certs"
)

// Options configure Run.
type Options struct {
	Config  config.Webhook
	Version string
	// RestConfig reaches the API server.
	RestConfig *rest.Config
	Log        *slog.Logger
}

// Run serves the webhook until ctx ends: the admission endpoint (once its
// certificate is ready), /metrics, /healthz and /readyz, the certificate
// handling of the configured mode, and the native-sidecar detection.
func Run(ctx context.Context, opts Options) error {
	cfg := opts.Config
	log := opts.Log
	cfg.Sidecar.Image = pinnedImage(cfg.Sidecar.Image, opts.Version)

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fmt.Errorf("webhook: building the scheme: %w", err)
	}
	mgr, err := manager.New(opts.RestConfig, manager.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: cfg.Server.MetricsAddr},
		HealthProbeBindAddress:        cfg.Server.HealthAddr,
		LeaderElection:                cfg.LeaderElection.Enabled,
		LeaderElectionID:              cfg.LeaderElection.ID,
		LeaderElectionNamespace:       cfg.Namespace,
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cache.Options{ByObject: cacheByObject(&cfg)},
	})
	if err != nil {
		return fmt.Errorf("webhook: creating the manager: %w", err)
	}

	// Warm the namespace cache while the manager starts, so the first
	// admission request does not wait for it.
	if _, err := mgr.GetCache().GetInformer(ctx, &corev1.Namespace{}, cache.BlockUntilSynced(false)); err != nil {
		return fmt.Errorf("webhook: watching namespaces: %w", err)
	}

	nodes, err := mgr.GetCache().GetInformer(ctx, &corev1.Node{}, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("webhook: watching nodes: %w", err)
	}

	disc, err := discovery.NewDiscoveryClientForConfig(opts.RestConfig)
	if err != nil {
		return fmt.Errorf("webhook: creating the discovery client: %w", err)
	}
	versions := &VersionWatcher{Discovery: disc, Interval: cfg.Injection.VersionRefresh, Log: log}
	if err := versions.Refresh(); err != nil {
		log.Warn("native sidecar support unknown; injecting regular containers until the API server answers", "error", err)
	}
	if err := mgr.Add(versions); err != nil {
		return fmt.Errorf("webhook: adding the version watcher: %w", err)
	}

	ready, err := certs.Setup(ctx, mgr, certs.Options{Config: &cfg, WebhookName: WebhookName, Log: log.With("component", "certs")})
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}

	server := ctrlwebhook.NewServer(ctrlwebhook.Options{
		Host:    cfg.Server.Host,
		Port:    cfg.Server.Port,
		CertDir: cfg.Server.CertDir,
	})
	h := &Handler{
		Config:     &cfg,
		Version:    opts.Version,
		Cluster:    (&clusterView{versions: versions, nodes: NodeLister{Reader: mgr.GetCache()}, synced: nodes.HasSynced, log: log}).Cluster,
		Namespaces: namespaceGetter(mgr.GetClient(), mgr.GetAPIReader()),
		Events:     mgr.GetEventRecorder("podtap-webhook"),
		Log:        log.With("component", "admission"),
	}
	if cfg.Injection.AdmissionCheck.Enabled {
		h.Admission = &AdmissionCheck{Client: mgr.GetClient(), Config: cfg.Injection.AdmissionCheck, Log: log.With("component", "admission-check")}
	}
	server.Register(MutatePath, &admission.Webhook{Handler: h})
	if err := mgr.Add(&gatedServer{Server: server, ready: ready, log: log}); err != nil {
		return fmt.Errorf("webhook: adding the webhook server: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("webhook: adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", server.StartedChecker()); err != nil {
		return fmt.Errorf("webhook: adding the readiness check: %w", err)
	}

	log.Info("starting", "version", opts.Version, "namespace", cfg.Namespace, "tlsMode", cfg.TLS.Mode,
		"nativeSidecars", versions.Cluster().NativeSidecars, "excluded", cfg.Excluded())
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	return nil
}

// cacheByObject is the certificates' narrowed watches and the slim nodes.
func cacheByObject(cfg *config.Webhook) map[client.Object]cache.ByObject {
	by := certs.CacheByObject(cfg)
	if by == nil {
		by = map[client.Object]cache.ByObject{}
	}
	by[&corev1.Node{}] = nodeCache()
	return by
}

// namespaceGetter reads namespaces from the cache, and from the API server
// when the cache has not seen a namespace created a moment ago.
func namespaceGetter(cached, direct client.Reader) NamespaceGetter {
	return func(ctx context.Context, name string) (*corev1.Namespace, error) {
		ns := &corev1.Namespace{}
		err := cached.Get(ctx, client.ObjectKey{Name: name}, ns)
		if apierrors.IsNotFound(err) {
			err = direct.Get(ctx, client.ObjectKey{Name: name}, ns)
		}
		if err != nil {
			return nil, err
		}
		return ns, nil
	}
}

// gatedServer starts the webhook server once the certificate is ready, so
// the API server is never offered a certificate it does not trust.
type gatedServer struct {
	ctrlwebhook.Server
	ready <-chan struct{}
	log   *slog.Logger
}

func (g *gatedServer) Start(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-g.ready:
	}
	g.log.Info("serving certificate ready; serving admission requests")
	if err := g.Server.Start(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("serving admission requests: %w", err)
	}
	return nil
}

// NeedLeaderElection is false: every replica serves.
func (g *gatedServer) NeedLeaderElection() bool { return false }
