package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NodeKubelet is what the native-sidecar decision needs of a Node.
type NodeKubelet struct {
	Name    string            `json:"name"`
	Labels  map[string]string `json:"labels,omitempty"`
	Version string            `json:"version"`
}

// nativeOnNodes decides whether the nodes a pod may land on run native
// sidecars. It is the kubelet that runs them: a kubelet older than 1.29,
// up to three minors behind a newer API server, ignores restartPolicy on
// an init container and waits for it forever, so the pod sticks in Init.
// The nodes are those the pod's nodeSelector matches, or all when it has
// none or matches none (the scheduler may still add nodes later). No node
// known (a control plane without nodes yet) leaves the API server's word.
// It returns the oldest kubelet that rules native out.
func nativeOnNodes(nodes []NodeKubelet, pod *corev1.Pod) (bool, string) {
	if len(nodes) == 0 {
		return true, ""
	}
	candidates := nodes
	if len(pod.Spec.NodeSelector) > 0 {
		sel := labels.SelectorFromSet(pod.Spec.NodeSelector)
		var matched []NodeKubelet
		for _, n := range nodes {
			if sel.Matches(labels.Set(n.Labels)) {
				matched = append(matched, n)
			}
		}
		if len(matched) > 0 {
			candidates = matched
		}
	}
	for _, n := range candidates {
		v, err := version.ParseGeneric(n.Version)
		if err != nil || !v.AtLeast(nativeSidecarsSince) {
			return false, fmt.Sprintf("node %s runs kubelet %q", n.Name, n.Version)
		}
	}
	return true, ""
}

// NodeLister lists the nodes' kubelet versions from the manager's cache.
type NodeLister struct {
	Reader client.Reader
}

// Kubelets returns every node's kubelet; on failure none, which leaves
// the decision to the API server's version.
func (l NodeLister) Kubelets(ctx context.Context) ([]NodeKubelet, error) {
	list := &corev1.NodeList{}
	if err := l.Reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	out := make([]NodeKubelet, len(list.Items))
	for i, n := range list.Items {
		out[i] = NodeKubelet{Name: n.Name, Labels: n.Labels, Version: n.Status.NodeInfo.KubeletVersion}
	}
	return out, nil
}

// nodeCache keeps only what the decision reads of each Node, so that a
// cluster of thousands of nodes costs the webhook little memory.
func nodeCache() cache.ByObject {
	return cache.ByObject{Transform: func(obj any) (any, error) {
		n, ok := obj.(*corev1.Node)
		if !ok {
			return obj, nil
		}
		slim := &corev1.Node{}
		slim.Name, slim.Labels, slim.ResourceVersion = n.Name, n.Labels, n.ResourceVersion
		slim.Status.NodeInfo.KubeletVersion = n.Status.NodeInfo.KubeletVersion
		return slim, nil
	}}
}

// nodeListTimeout bounds the cache read of one admission; the cache
// answers from memory once synced.
const nodeListTimeout = 500 * time.Millisecond

// clusterView joins the API server's version and the nodes' kubelets.
type clusterView struct {
	versions *VersionWatcher
	nodes    NodeLister
	// synced says whether the node cache has its first list; until then
	// (or for ever, without the RBAC to list nodes) an admission must not
	// wait for it.
	synced  func() bool
	log     *slog.Logger
	failing atomic.Bool
}

// Cluster is the handler's view; without the nodes, the API server's
// version decides alone, as before nodes were read.
func (c *clusterView) Cluster() Cluster {
	cl := c.versions.Cluster()
	ctx, cancel := context.WithTimeout(context.Background(), nodeListTimeout)
	defer cancel()
	var kubelets []NodeKubelet
	err := errors.New("the node cache has not synced (can the webhook list nodes?)")
	if c.synced() {
		kubelets, err = c.nodes.Kubelets(ctx)
	}
	if err != nil {
		if !c.failing.Swap(true) {
			c.log.Warn("node kubelet versions unknown; the API server's version decides native sidecars", "error", err)
		}
		return cl
	}
	if c.failing.Swap(false) {
		c.log.Info("node kubelet versions known again")
	}
	cl.Kubelets = kubelets
	return cl
}
