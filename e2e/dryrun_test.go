package e2e

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestChartServerSideDryRun applies every object the chart renders, with
// each CI values file, to a real kube-apiserver with server-side dry-run:
// the API server's validation (built-in types, and cert-manager's CRDs for
// its objects) is the schema check.
func TestChartServerSideDryRun(t *testing.T) {
	cp := startControlPlane(t, "", "", certManagerCRDs(t)...)
	cp.createNamespace(t, releaseNamespace, nil)

	kinds := map[string]bool{}
	for name, file := range ciValues(t) {
		t.Run(name, func(t *testing.T) {
			for _, o := range renderChart(t, "-f", file).objs {
				kinds[o.GetKind()] = true
				if err := dryRunApply(cp.c, o); err != nil {
					t.Errorf("%s %s refused: %v", o.GetKind(), o.GetName(), err)
				}
			}
		})
	}
	for _, k := range []string{"Deployment", "Service", "ConfigMap", "ServiceAccount", "PodDisruptionBudget",
		"MutatingWebhookConfiguration", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Certificate", "Issuer"} {
		if !kinds[k] {
			t.Errorf("no %s checked", k)
		}
	}

	t.Run("invalid objects are refused", func(t *testing.T) {
		// The check can fail: the same objects, broken the way a template
		// could break them.
		r := renderChart(t, "-f", ciValues(t)["cert-manager"])
		for _, b := range []struct {
			kind, field string
			breakIt     func(*unstructured.Unstructured)
		}{
			{"MutatingWebhookConfiguration", "failurePolicy", func(u *unstructured.Unstructured) {
				whs, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
				whs[0].(map[string]any)["failurePolicy"] = "Sometimes"
				_ = unstructured.SetNestedSlice(u.Object, whs, "webhooks")
			}},
			{"Deployment", "replicas", func(u *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(u.Object, int64(-1), "spec", "replicas")
			}},
			{"Certificate", "issuerRef.name", func(u *unstructured.Unstructured) {
				unstructured.RemoveNestedField(u.Object, "spec", "issuerRef", "name")
			}},
		} {
			o := r.all(b.kind)[0].DeepCopy()
			b.breakIt(o)
			err := dryRunApply(cp.c, o)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), b.field) {
				t.Errorf("a %s with a bad %s: %v", b.kind, b.field, err)
			}
		}
	})
}

func dryRunApply(c client.Client, o *unstructured.Unstructured) error {
	return c.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(o),
		client.DryRunAll, client.FieldOwner("helm"), client.ForceOwnership)
}
