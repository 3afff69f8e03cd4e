// Package pods is the central receiver's enrich stage for pod names: an
// informer-fed index from pod address to pod (name, namespace, workload),
// which names the pod each mirrored pair is about. It links client-go, so
// only podtap-receiver imports it, never podtap-sidecar.
package pods
