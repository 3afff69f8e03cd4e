package pods

import (
	"net/netip"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// entry is what the index keeps of one pod address.
type entry struct {
	uid       types.UID
	name      string
	namespace string
	// owner is the pod's controller, Kind/name; a ReplicaSet is resolved
	// to its Deployment when looked up, since the ReplicaSet may arrive
	// after the pod.
	ownerKind, ownerName string
	created              time.Time
	deleting             bool
}

// index maps pod addresses to pods. An address belongs to one live pod at
// a time, but a replaced pod's address may be reused while the old pod
// is still terminating, so two pods can claim it for a while.
type index struct {
	mu     sync.RWMutex
	byAddr map[netip.Addr]*entry
	// addrs remembers each pod's addresses, to drop them when it changes.
	addrs map[types.UID][]netip.Addr
}

func newIndex() *index {
	return &index{byAddr: map[netip.Addr]*entry{}, addrs: map[types.UID][]netip.Addr{}}
}

// set records e's addresses, replacing what the pod had before.
func (x *index) set(e *entry, addrs []netip.Addr) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeLocked(e.uid)
	kept := addrs[:0:0]
	for _, a := range addrs {
		if old, ok := x.byAddr[a]; ok && !wins(e, old) {
			continue
		}
		x.byAddr[a] = e
		kept = append(kept, a)
	}
	if len(kept) > 0 {
		x.addrs[e.uid] = kept
	}
}

// remove forgets the pod's addresses, keeping those another pod took.
func (x *index) remove(uid types.UID) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeLocked(uid)
}

func (x *index) removeLocked(uid types.UID) {
	for _, a := range x.addrs[uid] {
		if e, ok := x.byAddr[a]; ok && e.uid == uid {
			delete(x.byAddr, a)
		}
	}
	delete(x.addrs, uid)
}

func (x *index) get(a netip.Addr) (*entry, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.byAddr[a]
	return e, ok
}

func (x *index) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byAddr)
}

// wins says whether e takes an address old holds: a live pod beats a
// terminating one, and otherwise the newer pod, which got the address
// last.
func wins(e, old *entry) bool {
	if e.deleting != old.deleting {
		return !e.deleting
	}
	return !e.created.Before(old.created)
}
