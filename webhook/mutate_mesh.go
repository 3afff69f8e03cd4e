package webhook

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Meshes podtap recognises. Their proxies encrypt traffic between pods, so
// plaintext exists only on lo, between the proxy and the application.
const (
	MeshIstio   = "istio"
	MeshLinkerd = "linkerd"
	// MeshIstioAmbient has no sidecar: ztunnel's redirect inside the pod's
	// network namespace carries plaintext over lo, while eth0 carries
	// only HBONE mTLS.
	MeshIstioAmbient = "istio-ambient"
)

// ambientLabel puts a namespace or pod in Istio's ambient mode; "none" on
// a pod takes it out.
const ambientLabel = "istio.io/dataplane-mode"

// meshProxies are the proxy container names, in containers or (native
// sidecars) initContainers.
var meshProxies = map[string]string{
	"istio-proxy":   MeshIstio,
	"linkerd-proxy": MeshLinkerd,
}

// Mesh is a detected service mesh and the evidence for it.
type Mesh struct {
	Name     string
	Evidence string
}

// detectMesh finds a mesh proxy already in the pod, or the injection
// markers that mean one will be added. Explicit opt-outs of the mesh on the
// pod beat a namespace that enables it.
func detectMesh(ns *corev1.Namespace, pod *corev1.Pod) (Mesh, bool) {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if mesh, ok := meshProxies[c.Name]; ok {
				return Mesh{mesh, fmt.Sprintf("container %q", c.Name)}, true
			}
		}
	}
	if _, ok := pod.Annotations["sidecar.istio.io/status"]; ok {
		return Mesh{MeshIstio, "annotation sidecar.istio.io/status"}, true
	}
	if _, ok := pod.Annotations["linkerd.io/proxy-version"]; ok {
		return Mesh{MeshLinkerd, "annotation linkerd.io/proxy-version"}, true
	}

	if mode := pod.Labels[ambientLabel]; mode == "ambient" {
		return Mesh{MeshIstioAmbient, "label " + ambientLabel + "=ambient on the pod"}, true
	} else if mode != "none" && ns.Labels[ambientLabel] == "ambient" {
		return Mesh{MeshIstioAmbient, "label " + ambientLabel + "=ambient on the namespace"}, true
	}

	istioPod, istioPodSet := firstOf(pod.Labels["sidecar.istio.io/inject"], pod.Annotations["sidecar.istio.io/inject"])
	if istioPodSet && istioPod == "true" {
		return Mesh{MeshIstio, "sidecar.istio.io/inject=true on the pod"}, true
	}
	if !istioPodSet || istioPod != "false" {
		// A revision on the pod alone selects Istio's revisioned injector.
		if rev := pod.Labels["istio.io/rev"]; rev != "" {
			return Mesh{MeshIstio, fmt.Sprintf("label istio.io/rev=%s on the pod", rev)}, true
		}
		if ns.Labels["istio-injection"] == "enabled" {
			return Mesh{MeshIstio, "label istio-injection=enabled on the namespace"}, true
		}
		if rev := ns.Labels["istio.io/rev"]; rev != "" {
			return Mesh{MeshIstio, fmt.Sprintf("label istio.io/rev=%s on the namespace", rev)}, true
		}
	}

	switch pod.Annotations["linkerd.io/inject"] {
	case "enabled", "ingress":
		return Mesh{MeshLinkerd, "annotation linkerd.io/inject on the pod"}, true
	case "disabled":
		return Mesh{}, false
	}
	switch ns.Annotations["linkerd.io/inject"] {
	case "enabled", "ingress":
		return Mesh{MeshLinkerd, "annotation linkerd.io/inject on the namespace"}, true
	}
	return Mesh{}, false
}

// firstOf returns the first non-empty value: Istio reads its inject switch
// from the label first, then the annotation.
func firstOf(values ...string) (string, bool) {
	for _, v := range values {
		if v != "" {
			return v, true
		}
	}
	return "", false
}
