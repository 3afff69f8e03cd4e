package webhook

import (
	"slices"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
)

// addPullSecrets gives the pod the sidecar's pull secrets it lacks, after
// its own, so that a private registry does not leave a native sidecar, and
// the application behind it, in ImagePullBackOff.
func addPullSecrets(pod *corev1.Pod, names []string) {
	for _, n := range names {
		if !hasPullSecret(pod.Spec.ImagePullSecrets, n) {
			pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: n})
		}
	}
}

func hasPullSecret(list []corev1.LocalObjectReference, name string) bool {
	return slices.ContainsFunc(list, func(r corev1.LocalObjectReference) bool { return r.Name == name })
}

// pullSecretOps appends what addPullSecrets added; it never removes one.
func pullSecretOps(orig, injected []corev1.LocalObjectReference) []jsonpatch.JsonPatchOperation {
	var added []any
	for _, r := range injected {
		if !hasPullSecret(orig, r.Name) {
			added = append(added, r)
		}
	}
	if len(added) == 0 {
		return nil
	}
	if len(orig) == 0 {
		return []jsonpatch.JsonPatchOperation{{Operation: "add", Path: "/spec/imagePullSecrets", Value: added}}
	}
	ops := make([]jsonpatch.JsonPatchOperation, len(added))
	for i, r := range added {
		ops[i] = jsonpatch.JsonPatchOperation{Operation: "add", Path: "/spec/imagePullSecrets/-", Value: r}
	}
	return ops
}
