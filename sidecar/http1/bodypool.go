package http1

import (
	"math/bits"
	"sync"
	"unsafe"
)

// Body buffers are pooled by power-of-two size class: allocating and
// zeroing a fresh buffer for the body of every message cost more than
// parsing it. A half's body is lent with releaseBody as its ReleaseBody,
// and goes back to the pool once its pair has been encoded
// (message.Pair.Release), when the record holds a copy of everything the
// pair said. Bodies above the largest class, rare and large, are
// allocated to their size, so pooling wastes at most half of a 64 KiB
// buffer.
const (
	minBodyClass = 8  // 256 B: what a stalled body holds, when small
	maxBodyClass = 16 // 64 KiB
)

// bodyPools[c] holds buffers of 1<<c bytes, each as a pointer to its first
// byte: an unsafe.Pointer goes into a sync.Pool without an allocation,
// which a slice would cost.
var bodyPools [maxBodyClass + 1]sync.Pool

// newBody returns an empty buffer with room for n bytes.
func newBody(n int) []byte {
	if n > 1<<maxBodyClass {
		return make([]byte, 0, n)
	}
	c := max(bits.Len(uint(n-1)), minBodyClass)
	if p, ok := bodyPools[c].Get().(unsafe.Pointer); ok {
		return unsafe.Slice((*byte)(p), 1<<c)[:0]
	}
	return make([]byte, 0, 1<<c)
}

// releaseBody pools b if its size is a class's; b must not be used again.
func releaseBody(b []byte) {
	n := cap(b)
	if n < 1<<minBodyClass || n > 1<<maxBodyClass || n&(n-1) != 0 {
		return
	}
	bodyPools[bits.TrailingZeros(uint(n))].Put(unsafe.Pointer(unsafe.SliceData(b)))
}
