package webhook

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/podtap/podtap/config"
)

// WebhookName is the name of podtap's webhook inside its configuration:
// the pods of labelled namespaces.
const WebhookName = "inject.podtap.io"

// PodWebhookName is the webhook for single pods labelled
// podtap.io/inject=enabled in namespaces that are not.
const PodWebhookName = "inject-pod.podtap.io"

// CertManagerInjectAnnotation asks cert-manager's CA injector to fill the
// caBundle from a Certificate.
const CertManagerInjectAnnotation = "cert-manager.io/inject-ca-from"

// Registration is the MutatingWebhookConfiguration that sends pods to the
// webhook; the Helm chart renders the same object. Its choices are the ones
// users depend on:
//   - failurePolicy Ignore: a webhook outage never blocks pod creation;
//   - reinvocation IfNeeded: a mesh proxy another webhook adds later is
//     seen, and the sidecar switches to lo;
//   - sideEffects NoneOnDryRun: dry-run requests create no Events;
//   - the system namespaces and the webhook's own never reach it;
//   - a second webhook, with the same endpoint, takes single pods labelled
//     podtap.io/inject=enabled from namespaces that are not.
//
// caBundle is the PEM the API server trusts; empty in "auto" mode, where
// the webhook patches it in.
func Registration(cfg *config.Webhook, caBundle []byte) *admissionregistrationv1.MutatingWebhookConfiguration {
	client := admissionregistrationv1.WebhookClientConfig{CABundle: caBundle}
	if cfg.Registration.URL != "" {
		client.URL = ptr.To(cfg.Registration.URL + MutatePath)
	} else {
		client.Service = &admissionregistrationv1.ServiceReference{
			Namespace: cfg.Namespace,
			Name:      cfg.Registration.Service,
			Path:      ptr.To(MutatePath),
			Port:      ptr.To(int32(cfg.Registration.ServicePort)),
		}
	}
	namespaces := metav1.LabelSelectorRequirement{
		Key:      "kubernetes.io/metadata.name",
		Operator: metav1.LabelSelectorOpNotIn,
		Values:   cfg.Excluded(),
	}
	namespaceWide := hook(cfg, WebhookName, client)
	namespaceWide.NamespaceSelector = &metav1.LabelSelector{
		MatchLabels:      map[string]string{config.LabelInject: injectEnabled},
		MatchExpressions: []metav1.LabelSelectorRequirement{namespaces},
	}
	namespaceWide.ObjectSelector = &metav1.LabelSelector{
		MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key:      config.LabelInject,
			Operator: metav1.LabelSelectorOpNotIn,
			Values:   []string{injectDisabled},
		}},
	}
	// A pod labelled enabled in a namespace that is not: the namespaces of
	// the first webhook, and those labelled disabled, are left out, so no
	// pod is sent twice.
	podOnly := hook(cfg, PodWebhookName, client)
	podOnly.NamespaceSelector = &metav1.LabelSelector{
		MatchExpressions: []metav1.LabelSelectorRequirement{namespaces, {
			Key:      config.LabelInject,
			Operator: metav1.LabelSelectorOpNotIn,
			Values:   []string{injectEnabled, injectDisabled},
		}},
	}
	podOnly.ObjectSelector = &metav1.LabelSelector{
		MatchLabels: map[string]string{config.LabelInject: injectEnabled},
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta: metav1.TypeMeta{
			APIVersion: admissionregistrationv1.SchemeGroupVersion.String(),
			Kind:       "MutatingWebhookConfiguration",
		},
		ObjectMeta: metav1.ObjectMeta{
			Name:   cfg.Registration.Name,
			Labels: map[string]string{"app.kubernetes.io/name": "podtap", "app.kubernetes.io/component": "webhook"},
		},
		Webhooks: []admissionregistrationv1.MutatingWebhook{namespaceWide, podOnly},
	}
	if cfg.TLS.Mode == config.TLSCertManager {
		mwc.Annotations = map[string]string{
			CertManagerInjectAnnotation: cfg.Namespace + "/" + cfg.TLS.Certificate,
		}
	}
	return mwc
}

// hook is what both webhooks share; they differ in their selectors.
func hook(cfg *config.Webhook, name string, client admissionregistrationv1.WebhookClientConfig) admissionregistrationv1.MutatingWebhook {
	return admissionregistrationv1.MutatingWebhook{
		Name:         name,
		ClientConfig: client,
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule: admissionregistrationv1.Rule{
				APIGroups:   []string{""},
				APIVersions: []string{"v1"},
				Resources:   []string{"pods"},
				Scope:       ptr.To(admissionregistrationv1.NamespacedScope),
			},
		}},
		FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
		MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNoneOnDryRun),
		TimeoutSeconds:          ptr.To(int32(cfg.Registration.Timeout.Seconds())),
		AdmissionReviewVersions: []string{"v1"},
		ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
	}
}
