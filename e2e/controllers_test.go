package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"
)

// rollOut plays the Deployment and ReplicaSet controllers for a
// Deployment already stored: it creates the ReplicaSet of its template and
// the pods, through the API server, as those controllers do; the admission
// webhooks see each pod as they would in a cluster. It returns the pods as
// stored.
func rollOut(t *testing.T, cp *controlPlane, d *appsv1.Deployment) []*corev1.Pod {
	t.Helper()
	ctx := context.Background()
	raw, err := json.Marshal(d.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	h := fnv.New32a()
	_, _ = h.Write(raw)
	hash := rand.SafeEncodeString(fmt.Sprint(h.Sum32()))

	labels := maps.Clone(d.Spec.Template.Labels)
	labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			Labels:          labels,
			OwnerReferences: []metav1.OwnerReference{controllerRef(d.Name, d.UID, "Deployment")},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: d.Spec.Replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: hash}},
			Template: *d.Spec.Template.DeepCopy(),
		},
	}
	maps.Copy(rs.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels)
	rs.Spec.Template.Labels = labels
	if err := cp.c.Create(ctx, rs); err != nil {
		t.Fatalf("creating ReplicaSet %s: %v", rs.Name, err)
	}
	var pods []*corev1.Pod
	for range ptr.Deref(d.Spec.Replicas, 1) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				GenerateName:    rs.Name + "-",
				Namespace:       d.Namespace,
				Labels:          maps.Clone(labels),
				Annotations:     maps.Clone(d.Spec.Template.Annotations),
				OwnerReferences: []metav1.OwnerReference{controllerRef(rs.Name, rs.UID, "ReplicaSet")},
			},
			Spec: *d.Spec.Template.Spec.DeepCopy(),
		}
		if err := cp.c.Create(ctx, pod); err != nil {
			t.Fatalf("creating a pod of %s: %v", rs.Name, err)
		}
		pods = append(pods, pod)
	}
	return pods
}

func controllerRef(name string, uid types.UID, kind string) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         "apps/v1",
		Kind:               kind,
		Name:               name,
		UID:                uid,
		Controller:         ptr.To(true),
		BlockOwnerDeletion: ptr.To(true),
	}
}
