package webhook

import (
	"fmt"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/podtap/podtap/config"
)

// Patch is the JSON patch from the admitted pod to the injected one. It
// touches only what podtap owns: a patch computed by diffing the whole pod
// would remove every field that this build's API types do not know, from
// every container, on a newer API server.
func Patch(orig, injected *corev1.Pod) []jsonpatch.JsonPatchOperation {
	var ops []jsonpatch.JsonPatchOperation
	own := ownContainerName(orig)
	ops = append(ops, containerOps("/spec/initContainers", orig.Spec.InitContainers, injected.Spec.InitContainers, own)...)
	ops = append(ops, containerOps("/spec/containers", orig.Spec.Containers, injected.Spec.Containers, own)...)
	ops = append(ops, volumeOps(orig.Spec.Volumes, injected.Spec.Volumes)...)
	ops = append(ops, pullSecretOps(orig.Spec.ImagePullSecrets, injected.Spec.ImagePullSecrets)...)
	ops = append(ops, shareProcessOps(orig.Spec.ShareProcessNamespace, injected.Spec.ShareProcessNamespace)...)
	ops = append(ops, mapOps("/metadata/labels", orig.Labels, injected.Labels, config.LabelInjected)...)
	ops = append(ops, mapOps("/metadata/annotations", orig.Annotations, injected.Annotations,
		config.AnnotationStatus, DefaultContainerAnnotation)...)
	return ops
}

// shareProcessOps sets shareProcessNamespace when TLS capture turned it on;
// podtap never turns it off, since the pod may have asked for it itself.
func shareProcessOps(orig, injected *bool) []jsonpatch.JsonPatchOperation {
	if injected == nil || !*injected || (orig != nil && *orig) {
		return nil
	}
	op := "add"
	if orig != nil {
		op = "replace"
	}
	return []jsonpatch.JsonPatchOperation{{Operation: op, Path: "/spec/shareProcessNamespace", Value: true}}
}

func containerOps(path string, orig, injected []corev1.Container, own string) []jsonpatch.JsonPatchOperation {
	from, to := indexOf(orig, own), indexOf(injected, ContainerName)
	return listOps(path, len(orig), from, to, func() (any, bool) {
		if to < 0 {
			return nil, false
		}
		return injected[to], from >= 0 && equality.Semantic.DeepEqual(orig[from], injected[to])
	})
}

// volumeOps replays the webhook's placement of each of its volumes, so
// that every operation's index is the one the list has at that point.
func volumeOps(orig, injected []corev1.Volume) []jsonpatch.JsonPatchOperation {
	var ops []jsonpatch.JsonPatchOperation
	cur := orig
	for _, name := range podtapVolumes {
		var want *corev1.Volume
		if i := volumeIndex(injected, name); i >= 0 {
			want = &injected[i]
		}
		next := withVolume(cur, name, want)
		from, to := volumeIndex(cur, name), volumeIndex(next, name)
		ops = append(ops, listOps("/spec/volumes", len(cur), from, to, func() (any, bool) {
			if to < 0 {
				return nil, false
			}
			return next[to], from >= 0 && equality.Semantic.DeepEqual(cur[from], next[to])
		})...)
		cur = next
	}
	return ops
}

// listOps moves podtap's element of a list from index from (-1: absent) to
// index to (-1: removed). The placement keeps an element where it stands,
// so a present element only changes in place.
func listOps(path string, origLen, from, to int, value func() (any, bool)) []jsonpatch.JsonPatchOperation {
	v, same := value()
	switch {
	case from >= 0 && to >= 0:
		if from != to {
			return []jsonpatch.JsonPatchOperation{
				{Operation: "remove", Path: fmt.Sprintf("%s/%d", path, from)},
				{Operation: "add", Path: fmt.Sprintf("%s/%d", path, to), Value: v},
			}
		}
		if same {
			return nil
		}
		return []jsonpatch.JsonPatchOperation{{Operation: "replace", Path: fmt.Sprintf("%s/%d", path, to), Value: v}}
	case from >= 0:
		return []jsonpatch.JsonPatchOperation{{Operation: "remove", Path: fmt.Sprintf("%s/%d", path, from)}}
	case to >= 0 && origLen == 0:
		return []jsonpatch.JsonPatchOperation{{Operation: "add", Path: path, Value: []any{v}}}
	case to >= 0:
		return []jsonpatch.JsonPatchOperation{{Operation: "add", Path: fmt.Sprintf("%s/%d", path, to), Value: v}}
	}
	return nil
}

// mapOps sets the given keys of a label or annotation map to their
// injected values.
func mapOps(path string, orig, injected map[string]string, keys ...string) []jsonpatch.JsonPatchOperation {
	changed := map[string]string{}
	for _, k := range keys {
		v, ok := injected[k]
		if !ok {
			continue
		}
		if was, had := orig[k]; !had || was != v {
			changed[k] = v
		}
	}
	if len(changed) == 0 {
		return nil
	}
	if len(orig) == 0 {
		return []jsonpatch.JsonPatchOperation{{Operation: "add", Path: path, Value: changed}}
	}
	var ops []jsonpatch.JsonPatchOperation
	for _, k := range keys {
		if v, ok := changed[k]; ok {
			ops = append(ops, jsonpatch.JsonPatchOperation{Operation: "add", Path: path + "/" + escapePointer(k), Value: v})
		}
	}
	return ops
}

// escapePointer escapes a JSON Pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}
