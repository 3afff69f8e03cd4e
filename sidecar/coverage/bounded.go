package coverage

import (
	"sync"
	"sync/atomic"
)

// bounded maps keys to counters, up to max keys; later keys share the
// entry of other. A key already present is found without a lock or an
// allocation: readers load an immutable map, and the rare writer (a new
// key) publishes a copy.
type bounded[K comparable, V any] struct {
	m     atomic.Pointer[map[K]*V]
	mu    sync.Mutex
	max   int
	other K
	// fresh makes an entry; new(V) when nil.
	fresh func() *V
}

func newBounded[K comparable, V any](max int, other K, fresh func() *V) *bounded[K, V] {
	return &bounded[K, V]{max: max, other: other, fresh: fresh}
}

// get returns k's entry, or other's once max keys are present.
func (b *bounded[K, V]) get(k K) *V {
	if m := b.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	return b.add(k)
}

func (b *bounded[K, V]) add(k K) *V {
	b.mu.Lock()
	defer b.mu.Unlock()
	var old map[K]*V
	if m := b.m.Load(); m != nil {
		old = *m
	}
	if v, ok := old[k]; ok {
		return v
	}
	n := len(old)
	if _, ok := old[b.other]; ok {
		n--
	}
	if n >= b.max {
		k = b.other
		if v, ok := old[k]; ok {
			return v
		}
	}
	m := make(map[K]*V, len(old)+1)
	for key, v := range old {
		m[key] = v
	}
	v := new(V)
	if b.fresh != nil {
		v = b.fresh()
	}
	m[k] = v
	b.m.Store(&m)
	return v
}

// each calls f for every entry, in no order.
func (b *bounded[K, V]) each(f func(K, *V)) {
	if m := b.m.Load(); m != nil {
		for k, v := range *m {
			f(k, v)
		}
	}
}

// counts is a bounded set of named counters.
type counts struct {
	b *bounded[string, atomic.Uint64]
}

func newCounts(max int) *counts {
	return &counts{newBounded[string, atomic.Uint64](max, Other, nil)}
}

func (c *counts) add(name string, n uint64) { c.b.get(name).Add(n) }

// snapshot reads the counters into a map, empty rather than nil so that
// the record shows {}.
func (c *counts) snapshot() map[string]uint64 {
	out := map[string]uint64{}
	c.b.each(func(k string, v *atomic.Uint64) {
		if n := v.Load(); n > 0 {
			out[k] = n
		}
	})
	return out
}
