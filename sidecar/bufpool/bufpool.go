// Package bufpool lends the byte buffers parsers keep bodies and decoded
// messages in, by power-of-two size class: allocating and zeroing a fresh
// buffer for every message cost more than parsing it. A buffer is lent
// with Put as its half's ReleaseBody (or a gRPC view's ReleaseJSON) and
// comes back once its pair has been encoded (message.Pair.Release), when
// the record holds a copy of everything the pair said. Buffers above the
// largest class, rare and large, are allocated to their size, so pooling
// wastes at most half of a 64 KiB buffer.
package bufpool

import (
	"math/bits"
	"sync"
	"unsafe"
)

const (
	minClass = 8  // 256 B: what a stalled body holds, when small
	maxClass = 16 // 64 KiB
)

// pools[c] holds buffers of 1<<c bytes, each as a pointer to its first
// byte: an unsafe.Pointer goes into a sync.Pool without an allocation,
// which a slice would cost.
var pools [maxClass + 1]sync.Pool

// Get returns an empty buffer with room for n bytes.
func Get(n int) []byte {
	if n > 1<<maxClass {
		return make([]byte, 0, n)
	}
	c := max(bits.Len(uint(max(n, 1)-1)), minClass)
	if p, ok := pools[c].Get().(unsafe.Pointer); ok {
		return unsafe.Slice((*byte)(p), 1<<c)[:0]
	}
	return make([]byte, 0, 1<<c)
}

// Put pools b if its size is a class's; b must not be used again.
func Put(b []byte) {
	n := cap(b)
	if n < 1<<minClass || n > 1<<maxClass || n&(n-1) != 0 {
		return
	}
	pools[bits.TrailingZeros(uint(n))].Put(unsafe.Pointer(unsafe.SliceData(b)))
}
