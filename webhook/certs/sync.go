package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// How soon a sync is retried after it could not complete, and how often the
// files are checked anyway, to repair a directory someone emptied.
const (
	retryAfter  = 2 * time.Second
	resyncAfter = time.Minute
)

// syncer copies the Secret's certificate into the serving directory once
// the registration's caBundle trusts it. It runs on every replica.
type syncer struct {
	reader       client.Reader
	secret       types.NamespacedName
	registration string
	webhookName  string
	dir          string
	log          *slog.Logger

	ready chan struct{}
	once  sync.Once
}

func addSyncer(mgr manager.Manager, opts Options) (<-chan struct{}, error) {
	s := &syncer{
		reader:       mgr.GetClient(),
		secret:       opts.secretKey(),
		registration: opts.Config.Registration.Name,
		webhookName:  opts.WebhookName,
		dir:          opts.Config.Server.CertDir,
		log:          opts.Log,
		ready:        make(chan struct{}),
	}
	toSecret := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: s.secret}}
	})
	err := builder.ControllerManagedBy(mgr).
		Named("podtap-cert-sync").
		For(&corev1.Secret{}).
		Watches(&admissionregistrationv1.MutatingWebhookConfiguration{}, toSecret).
		WithOptions(controller.Options{
			NeedLeaderElection: ptr.To(false),
			// Tests run several managers in one process; the name is
			// still unique within each.
			SkipNameValidation: ptr.To(true),
		}).
		Complete(s)
	if err != nil {
		return nil, fmt.Errorf("certs: adding the certificate sync: %w", err)
	}
	return s.ready, nil
}

// Reconcile syncs on every change of the Secret or the registration.
func (s *syncer) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if req.NamespacedName != s.secret {
		return reconcile.Result{}, nil
	}
	if err := s.sync(ctx); err != nil {
		s.log.Warn("serving certificate not updated; retrying", "secret", s.secret.String(), "reason", err)
		return reconcile.Result{RequeueAfter: retryAfter}, nil
	}
	return reconcile.Result{RequeueAfter: resyncAfter}, nil
}

func (s *syncer) sync(ctx context.Context) error {
	var secret corev1.Secret
	if err := s.reader.Get(ctx, s.secret, &secret); err != nil {
		return fmt.Errorf("reading the Secret: %w", err)
	}
	certPEM, keyPEM := secret.Data[CertKey], secret.Data[KeyKey]
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("the Secret holds no usable %s and %s yet: %w", CertKey, KeyKey, err)
	}
	bundle, err := s.caBundle(ctx)
	if err != nil {
		return err
	}
	if err := verify(pair, bundle); err != nil {
		return fmt.Errorf("the caBundle of %s does not trust the Secret's certificate yet: %w", s.registration, err)
	}
	changed, err := writePair(s.dir, certPEM, keyPEM)
	if err != nil {
		return err
	}
	if changed {
		s.log.Info("serving certificate updated", "dir", s.dir,
			"serial", pair.Leaf.SerialNumber.String(), "notAfter", pair.Leaf.NotAfter, "dnsNames", pair.Leaf.DNSNames)
	}
	s.once.Do(func() { close(s.ready) })
	return nil
}

func (s *syncer) caBundle(ctx context.Context) ([]byte, error) {
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := s.reader.Get(ctx, types.NamespacedName{Name: s.registration}, &mwc); err != nil {
		return nil, fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", s.registration, err)
	}
	for _, wh := range mwc.Webhooks {
		if wh.Name == s.webhookName {
			if len(wh.ClientConfig.CABundle) == 0 {
				return nil, fmt.Errorf("webhook %s of %s has no caBundle yet", s.webhookName, s.registration)
			}
			return wh.ClientConfig.CABundle, nil
		}
	}
	return nil, fmt.Errorf("MutatingWebhookConfiguration %s has no webhook %s", s.registration, s.webhookName)
}

// verify checks that the caBundle trusts the certificate for serving, now.
func verify(pair tls.Certificate, bundle []byte) error {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		return errors.New("the caBundle holds no PEM certificate")
	}
	intermediates := x509.NewCertPool()
	for _, der := range pair.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("parsing the certificate chain: %w", err)
		}
		intermediates.AddCert(c)
	}
	_, err := pair.Leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}
