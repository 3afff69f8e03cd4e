package webhook

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podtap/podtap/config"
)

// slowCreator admits every dry-run after a pause, counting them.
type slowCreator struct{ calls atomic.Int32 }

func (c *slowCreator) Create(context.Context, client.Object, ...client.CreateOption) error {
	c.calls.Add(1)
	time.Sleep(100 * time.Millisecond)
	return nil
}

// TestAdmissionCheckSharedAcrossAScaleUp: the pods of one ReplicaSet that
// arrive together make one dry-run, not one each.
func TestAdmissionCheckSharedAcrossAScaleUp(t *testing.T) {
	creator := &slowCreator{}
	a := &AdmissionCheck{Client: creator, Config: config.DefaultWebhook().Injection.AdmissionCheck}
	pod := func() *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Namespace: "shop", GenerateName: "checkout-",
			Labels:          map[string]string{"pod-template-hash": "7d9f"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "checkout-7d9f", UID: "rs-1", Controller: ptr.To(true)}},
		}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/checkout"}}}}
	}
	const pods = 8
	var wg sync.WaitGroup
	var shared atomic.Int32
	for range pods {
		wg.Go(func() {
			v, err := a.Check(t.Context(), pod(), pod(), nil)
			if err != nil || v.Rejected {
				t.Errorf("check: %+v, %v", v, err)
			}
			if v.Cached {
				shared.Add(1)
			}
		})
	}
	wg.Wait()
	if n := creator.calls.Load(); n != 1 {
		t.Errorf("%d dry-runs for %d pods of one ReplicaSet arriving together, want 1", n, pods)
	}
	// singleflight marks every caller of a shared call, its first too.
	if shared.Load() < pods-1 {
		t.Errorf("%d pods took the shared verdict, want at least %d", shared.Load(), pods-1)
	}
}

// TestCacheKeyWithoutTemplateHash: the pods of a controller that labels no
// template hash share a verdict only when their specs are the same.
func TestCacheKeyWithoutTemplateHash(t *testing.T) {
	step := func(image string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Namespace:       "ci",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Workflow", Name: "build", UID: "wf-1", Controller: ptr.To(true)}},
		}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: image}}}}
	}
	a, b, c := cacheKey(step("golang")), cacheKey(step("alpine")), cacheKey(step("golang"))
	if a == "" || a == b || a != c {
		t.Errorf("keys %q, %q, %q: want the two golang steps alike and the alpine one apart", a, b, c)
	}
}
