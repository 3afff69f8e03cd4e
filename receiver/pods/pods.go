package pods

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/statelog"
)

// Map names pods from their addresses, fed by pod and ReplicaSet
// informers. It needs get, list and watch on pods and replicasets in
// every namespace, nothing more.
type Map struct {
	idx      *index
	rs       appslisters.ReplicaSetLister
	unknown  *statelog.State
	lastMiss atomic.Int64 // unix ns of the last unknown pair
}

// Start starts the informers and returns once their caches hold the
// cluster's pods and ReplicaSets, so that the first pairs are named too.
// They stop when ctx is done.
func Start(ctx context.Context, client kubernetes.Interface, resync time.Duration) (*Map, error) {
	f := informers.NewSharedInformerFactoryWithOptions(client, resync, informers.WithTransform(strip))
	m := &Map{
		idx: newIndex(),
		rs:  f.Apps().V1().ReplicaSets().Lister(),
		unknown: statelog.New(statelog.Config{
			Degraded:  "pairs from addresses of no known pod",
			Recovered: "pairs named from known pods again",
		}),
	}
	podInf := f.Core().V1().Pods().Informer()
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    m.update,
		UpdateFunc: func(_, obj any) { m.update(obj) },
		DeleteFunc: m.delete,
	}); err != nil {
		return nil, fmt.Errorf("pods: pod informer: %w", err)
	}
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("pods: the %v cache did not sync: %w", typ, errors.Join(ctx.Err(), errors.New("stopped before the API server answered")))
		}
	}
	slog.Info("pod informer synced", "addresses", m.idx.len())
	return m, nil
}

func (m *Map) update(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	// A host-network pod's address is its node's, shared by every such
	// pod there; a finished pod's address is free for another pod.
	if p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		m.idx.remove(p.UID)
		return
	}
	var addrs []netip.Addr
	for _, ip := range p.Status.PodIPs {
		if a, err := netip.ParseAddr(ip.IP); err == nil {
			addrs = append(addrs, a.Unmap())
		}
	}
	e := &entry{
		uid:       p.UID,
		name:      p.Name,
		namespace: p.Namespace,
		created:   p.CreationTimestamp.Time,
		deleting:  p.DeletionTimestamp != nil,
	}
	if len(p.OwnerReferences) > 0 {
		e.ownerKind, e.ownerName = p.OwnerReferences[0].Kind, p.OwnerReferences[0].Name
	}
	m.idx.set(e, addrs)
}

func (m *Map) delete(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if p, ok := obj.(*corev1.Pod); ok {
		m.idx.remove(p.UID)
	}
}

// Lookup returns the pod that has address a.
func (m *Map) Lookup(a netip.Addr) (message.PodRef, bool) {
	e, ok := m.idx.get(a.Unmap())
	if !ok {
		return message.PodRef{}, false
	}
	return message.PodRef{Name: e.name, Namespace: e.namespace, IP: a.Unmap().String(), Workload: m.workload(e)}, true
}

// workload is the pod's owning workload: a ReplicaSet's Deployment, or the
// controller itself (StatefulSet, DaemonSet, Job, a bare ReplicaSet).
func (m *Map) workload(e *entry) string {
	if e.ownerKind == "" {
		return ""
	}
	if e.ownerKind == "ReplicaSet" {
		if rs, err := m.rs.ReplicaSets(e.namespace).Get(e.ownerName); err == nil && len(rs.OwnerReferences) > 0 {
			o := rs.OwnerReferences[0]
			return o.Kind + "/" + o.Name
		}
	}
	return e.ownerKind + "/" + e.ownerName
}
