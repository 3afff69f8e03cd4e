package webhook

import (
	"slices"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/podtap/podtap/config"
)

func TestRegistrationKeepsTheClusterSafe(t *testing.T) {
	cfg := config.DefaultWebhook()
	cfg.Namespace = "tap"
	cfg.Injection.ExcludedNamespaces = []string{"monitoring"}
	mwc := Registration(&cfg, []byte("PEM"))
	if len(mwc.Webhooks) != 2 || mwc.Webhooks[0].Name != WebhookName || mwc.Webhooks[1].Name != PodWebhookName {
		t.Fatalf("webhooks %+v", mwc.Webhooks)
	}
	for _, wh := range mwc.Webhooks {
		if *wh.FailurePolicy != admissionregistrationv1.Ignore || *wh.TimeoutSeconds != 5 ||
			*wh.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy ||
			*wh.SideEffects != admissionregistrationv1.SideEffectClassNoneOnDryRun {
			t.Fatalf("webhook %+v", wh)
		}
		if wh.ClientConfig.Service == nil || wh.ClientConfig.Service.Namespace != "tap" || *wh.ClientConfig.Service.Path != MutatePath ||
			string(wh.ClientConfig.CABundle) != "PEM" || wh.ClientConfig.URL != nil {
			t.Fatalf("client config %+v", wh.ClientConfig)
		}
		excluded := wh.NamespaceSelector.MatchExpressions[0]
		for _, ns := range []string{"kube-system", "kube-public", "kube-node-lease", "tap", "monitoring"} {
			if !slices.Contains(excluded.Values, ns) {
				t.Errorf("%s: %s is not excluded: %v", wh.Name, ns, excluded.Values)
			}
		}
		if r := wh.Rules[0]; !slices.Equal(r.Operations, []admissionregistrationv1.OperationType{admissionregistrationv1.Create}) ||
			!slices.Equal(r.Resources, []string{"pods"}) {
			t.Fatalf("rules %+v", wh.Rules)
		}
	}
	if sel := mwc.Webhooks[0].NamespaceSelector; sel.MatchLabels[config.LabelInject] != "enabled" {
		t.Fatalf("namespace selector %+v", sel)
	}
	// The pod webhook never takes a labelled namespace's pods, which the
	// first one already sends, and only pods labelled enabled.
	pod := mwc.Webhooks[1]
	if e := pod.NamespaceSelector.MatchExpressions[1]; e.Key != config.LabelInject || e.Operator != "NotIn" || !slices.Equal(e.Values, []string{"enabled", "disabled"}) {
		t.Fatalf("pod webhook namespace selector %+v", pod.NamespaceSelector)
	}
	if pod.ObjectSelector.MatchLabels[config.LabelInject] != "enabled" {
		t.Fatalf("pod webhook object selector %+v", pod.ObjectSelector)
	}
	if mwc.Annotations[CertManagerInjectAnnotation] != "" {
		t.Fatal("auto mode asks cert-manager for a CA")
	}

	cfg.TLS.Mode = config.TLSCertManager
	cfg.Registration.URL = "https://webhook.example:8443"
	mwc = Registration(&cfg, nil)
	if mwc.Annotations[CertManagerInjectAnnotation] != "tap/podtap-webhook" {
		t.Fatalf("annotations %v", mwc.Annotations)
	}
	for _, wh := range mwc.Webhooks {
		if u := wh.ClientConfig.URL; u == nil || *u != "https://webhook.example:8443"+MutatePath || wh.ClientConfig.Service != nil {
			t.Fatalf("client config %+v", wh.ClientConfig)
		}
	}
}
