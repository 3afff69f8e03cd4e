package webhook

import (
	corev1 "k8s.io/api/core/v1"
)

// ownContainerName is the name of podtap's container in a pod an earlier
// pass injected (the status records it), or the name it will have.
func ownContainerName(pod *corev1.Pod) string {
	if s, ok := readStatus(pod); ok {
		return s.Container
	}
	return ContainerName
}

// placeContainer puts the sidecar where it belongs: first among the
// initContainers as a native sidecar, so it starts before everything else
// and sees connections from their first byte; or last among the containers.
// A container of an earlier pass is replaced where it stands, so that the
// order other webhooks chose is kept.
//
// A native mesh proxy among the initContainers comes first, though: native
// sidecars stop in reverse order, and podtap's final Kafka flush at pod
// deletion goes out through the proxy's redirect, so podtap must stop
// before it. Starting after the proxy costs nothing of the first-byte
// claim, since the application still starts after podtap.
func placeContainer(pod *corev1.Pod, c corev1.Container, native bool, own string) {
	target, other := &pod.Spec.Containers, &pod.Spec.InitContainers
	if native {
		target, other = other, target
	}
	*other = without(*other, own)
	if native {
		at := indexOf(*target, own)
		rest := without(*target, own)
		if p := lastMeshProxy(rest); p >= 0 {
			at = p + 1
		} else if at < 0 {
			at = 0
		}
		*target = append(append(append([]corev1.Container{}, rest[:at]...), c), rest[at:]...)
		return
	}
	if i := indexOf(*target, own); i >= 0 {
		(*target)[i] = c
		return
	}
	*target = append(*target, c)
}

// lastMeshProxy is the index of the last mesh proxy in the list, or -1.
func lastMeshProxy(list []corev1.Container) int {
	last := -1
	for i, c := range list {
		if _, ok := meshProxies[c.Name]; ok {
			last = i
		}
	}
	return last
}

func indexOf(list []corev1.Container, name string) int {
	for i, c := range list {
		if c.Name == name {
			return i
		}
	}
	return -1
}

func without(list []corev1.Container, name string) []corev1.Container {
	i := indexOf(list, name)
	if i < 0 {
		return list
	}
	out := append(append([]corev1.Container{}, list[:i]...), list[i+1:]...)
	if len(out) == 0 {
		return nil
	}
	return out
}

// podtapVolumes are the volumes the webhook owns, in the order it places
// them.
var podtapVolumes = []string{SpoolVolumeName, KafkaVolumeName}

// withVolume returns the list with podtap's volume name added, replaced in
// place, or (v nil) removed; the list given is not modified.
func withVolume(list []corev1.Volume, name string, v *corev1.Volume) []corev1.Volume {
	i := volumeIndex(list, name)
	switch {
	case v != nil && i >= 0:
		out := append([]corev1.Volume{}, list...)
		out[i] = *v
		return out
	case v != nil:
		return append(append([]corev1.Volume{}, list...), *v)
	case i >= 0:
		out := append(append([]corev1.Volume{}, list[:i]...), list[i+1:]...)
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return list
}

func volumeIndex(list []corev1.Volume, name string) int {
	for i, v := range list {
		if v.Name == name {
			return i
		}
	}
	return -1
}
