package webhook

import (
	"testing"

	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/utils/ptr"

	"github.com/podtap/podtap/config"
)

// TestTLSFallbackKeptOnReinvocation: a reinvocation makes no admission
// check, so the first pass's fallback must come from the status it wrote;
// the same status copied from another pod (listed in managedFields) is
// judged afresh.
func TestTLSFallbackKeptOnReinvocation(t *testing.T) {
	cfg := config.DefaultWebhook()
	pod := ownedPod(map[string]string{config.AnnotationTLS: "on"})
	first, err := Mutate(Input{Config: &cfg, Cluster: Cluster{NativeSidecars: true, TLSRejected: "denied by policy"}, Namespace: shop(), Pod: pod})
	if err != nil || first.Status.TLSOff == nil {
		t.Fatalf("first pass: %+v, %v", first.Status, err)
	}
	again, err := Mutate(Input{Config: &cfg, Cluster: Cluster{NativeSidecars: true}, Namespace: shop(), Pod: first.Pod})
	if err != nil {
		t.Fatal(err)
	}
	if again.Status.TLS != "" || again.Status.TLSOff == nil || again.Status.TLSOff.Detail != "denied by policy" || len(Patch(first.Pod, again.Pod)) != 0 {
		t.Fatalf("reinvocation turned TLS capture back on: %+v", again.Status)
	}
	copied := first.Pod.DeepCopy()
	sentStatus(copied)
	fresh, err := Mutate(Input{Config: &cfg, Cluster: Cluster{NativeSidecars: true}, Namespace: shop(), Pod: copied})
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Status.TLS == "" || fresh.Status.TLSOff != nil {
		t.Fatalf("a copied fallback status was trusted: %+v", fresh.Status)
	}
}

// TestTLSOffWinsInTheCheckedPod: the pod the admission check dry-runs
// without TLS capture stays so when the dry-run comes back into the
// webhook, even where TLS capture is on for every pod.
func TestTLSOffWinsInTheCheckedPod(t *testing.T) {
	cfg := config.DefaultWebhook()
	cfg.Sidecar.Settings.Capture.TLS = "on"
	res, err := Mutate(Input{Config: &cfg, Cluster: Cluster{NativeSidecars: true}, Namespace: shop(), Pod: withTLSOff(ownedPod(nil))})
	if err != nil || res.Status.TLS != "" || res.Pod.Spec.ShareProcessNamespace != nil {
		t.Fatalf("status %+v, shareProcessNamespace %v, %v", res.Status, res.Pod.Spec.ShareProcessNamespace, err)
	}
}

// TestTLSWithHostPID: a hostPID pod sees the node's processes already,
// and the API server refuses shareProcessNamespace beside hostPID.
func TestTLSWithHostPID(t *testing.T) {
	cfg := config.DefaultWebhook()
	pod := ownedPod(map[string]string{config.AnnotationTLS: "openssl"})
	pod.Spec.HostPID = true
	res, err := Mutate(Input{Config: &cfg, Cluster: Cluster{NativeSidecars: true}, Namespace: shop(), Pod: pod})
	if err != nil || res.Status.TLS != "openssl" || res.Pod.Spec.ShareProcessNamespace != nil {
		t.Fatalf("status %+v, shareProcessNamespace %v, %v", res.Status, res.Pod.Spec.ShareProcessNamespace, err)
	}
	pod.Spec.HostPID, pod.Spec.ShareProcessNamespace = false, ptr.To(false)
	res, _ = Mutate(Input{Config: &cfg, Cluster: Cluster{NativeSidecars: true}, Namespace: shop(), Pod: pod})
	if sp := res.Pod.Spec.ShareProcessNamespace; sp == nil || !*sp {
		t.Fatal("an explicit shareProcessNamespace: false was kept beside TLS capture")
	}
	if ops := Patch(pod, res.Pod); !hasOp(ops, "replace", "/spec/shareProcessNamespace") {
		t.Fatalf("patch %+v does not replace shareProcessNamespace", ops)
	}
}

func hasOp(ops []jsonpatch.JsonPatchOperation, op, path string) bool {
	for _, o := range ops {
		if o.Operation == op && o.Path == path {
			return true
		}
	}
	return false
}
