// Package certs keeps the webhook's serving certificate, in one of three
// modes (config.TLSAuto, TLSCertManager, TLSFiles), and says when it is
// ready to serve.
//
// In "auto" and "cert-manager" modes the certificate lives in a Secret, and
// every replica copies it into the serving directory itself instead of
// mounting the Secret: a mounted Secret reaches the pod a minute or more
// after it changes, and a copy can wait until the registration's caBundle
// trusts the new certificate, so that a rotation never serves a
// certificate the API server would refuse. The webhook server reloads the
// files with controller-runtime's certwatcher in every mode.
package certs

import (
	"context"
	"fmt"
	"log/slog"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/podtap/podtap/config"
)

// Keys of a certificate Secret, the same for cert-manager and the rotator.
const (
	CertKey = "tls.crt"
	KeyKey  = "tls.key"
	CAKey   = "ca.crt"
)

// Options configure Setup.
type Options struct {
	Config *config.Webhook
	// WebhookName is the webhook, inside the registration, whose caBundle
	// must trust the certificate before it is served.
	WebhookName string
	Log         *slog.Logger
}

func (o Options) secretKey() types.NamespacedName {
	return types.NamespacedName{Namespace: o.Config.Namespace, Name: o.Config.TLS.SecretName}
}

// CacheByObject limits the manager's cache to the one Secret and the one
// registration the certificate handling reads, so it needs no wider RBAC.
func CacheByObject(cfg *config.Webhook) map[client.Object]cache.ByObject {
	if cfg.TLS.Mode == config.TLSFiles {
		return nil
	}
	return map[client.Object]cache.ByObject{
		&corev1.Secret{}: {
			Namespaces: map[string]cache.Config{cfg.Namespace: {}},
			Field:      fields.OneTermEqualSelector("metadata.name", cfg.TLS.SecretName),
		},
		&admissionregistrationv1.MutatingWebhookConfiguration{}: {
			Field: fields.OneTermEqualSelector("metadata.name", cfg.Registration.Name),
		},
	}
}

// Setup adds the certificate handling of the configured mode to mgr. The
// returned channel is closed once the serving directory holds a
// certificate to serve.
func Setup(ctx context.Context, mgr manager.Manager, opts Options) (<-chan struct{}, error) {
	cfg := opts.Config
	switch cfg.TLS.Mode {
	case config.TLSFiles:
		w := &fileWaiter{dir: cfg.Server.CertDir, log: opts.Log, ready: make(chan struct{})}
		if err := mgr.Add(w); err != nil {
			return nil, fmt.Errorf("certs: adding the certificate file watcher: %w", err)
		}
		return w.ready, nil
	case config.TLSAuto:
		if err := addRotator(ctx, mgr, opts); err != nil {
			return nil, err
		}
	case config.TLSCertManager:
	default:
		return nil, fmt.Errorf("certs: unknown tls.mode %q", cfg.TLS.Mode)
	}
	return addSyncer(mgr, opts)
}
