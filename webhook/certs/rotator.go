package certs

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// rotatorName names the rotation controller.
const rotatorName = "podtap-cert-rotator"

// rotators counts rotators made in this process: controller-runtime allows
// a controller name once per process, and cert-controller offers no way to
// skip that check, so a second manager (tests) gets a numbered name.
var rotators atomic.Int64

func rotatorControllerName() string {
	if n := rotators.Add(1); n > 1 {
		return fmt.Sprintf("%s-%d", rotatorName, n)
	}
	return rotatorName
}

// addRotator keeps a self-signed CA and serving certificate in the Secret,
// renews them tls.renew_before their expiry, and patches the registration's
// caBundle; the leader does it when leader election is on.
func addRotator(ctx context.Context, mgr manager.Manager, opts Options) error {
	cfg := opts.Config
	if err := ensureSecret(ctx, mgr, opts); err != nil {
		return err
	}
	err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:              opts.secretKey(),
		CertDir:                cfg.Server.CertDir,
		CAName:                 "podtap-webhook-ca",
		CAOrganization:         "podtap",
		DNSName:                cfg.ServiceDNSName(),
		ExtraDNSNames:          cfg.TLS.ExtraDNSNames,
		IsReady:                make(chan struct{}),
		Webhooks:               []rotator.WebhookInfo{{Name: cfg.Registration.Name, Type: rotator.Mutating}},
		FieldOwner:             "podtap-webhook",
		RequireLeaderElection:  cfg.LeaderElection.Enabled,
		CaCertDuration:         cfg.TLS.CAValidity,
		ServerCertDuration:     cfg.TLS.CertValidity,
		RotationCheckFrequency: cfg.TLS.CheckInterval,
		LookaheadInterval:      cfg.TLS.RenewBefore,
		ControllerName:         rotatorControllerName(),
	})
	if err != nil {
		return fmt.Errorf("certs: adding the certificate rotator: %w", err)
	}
	return nil
}

// ensureSecret creates the empty Secret the rotator fills, when the chart
// has not: the rotator only updates it.
func ensureSecret(ctx context.Context, mgr manager.Manager, opts Options) error {
	c, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return fmt.Errorf("certs: creating a client: %w", err)
	}
	key := opts.secretKey()
	err = c.Get(ctx, key, &corev1.Secret{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("certs: reading Secret %s: %w", key, err)
	}
	secret := &corev1.Secret{Type: corev1.SecretTypeOpaque}
	secret.Namespace, secret.Name = key.Namespace, key.Name
	secret.Labels = map[string]string{"app.kubernetes.io/name": "podtap", "app.kubernetes.io/component": "webhook"}
	if err := c.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("certs: creating Secret %s: %w", key, err)
	}
	opts.Log.Info("created the certificate Secret", "secret", key.String())
	return nil
}
