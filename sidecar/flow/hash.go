package flow

import "math"

// flowHash is a hash of a TCP 4-tuple that is the same for both sides,
// so that both sides of a connection land on the same worker and get the
// same sampling verdict. The high half picks the worker and the low half is
// compared with the sample rate, so the two choices are independent.
func flowHash(src, dst []byte, sport, dport uint16) uint64 {
	// Adding the endpoint hashes makes the result symmetric; the final mix
	// spreads it over all 64 bits.
	return mix64(endpointHash(src, sport) + endpointHash(dst, dport))
}

// endpointHash is FNV-1a over the address and port.
func endpointHash(ip []byte, port uint16) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for _, b := range ip {
		h = (h ^ uint64(b)) * prime
	}
	h = (h ^ uint64(port>>8)) * prime
	h = (h ^ uint64(port&0xff)) * prime
	return h
}

// mix64 is the splitmix64 finalizer.
func mix64(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// shard maps a flow hash to one of n workers.
func shard(h uint64, n int) int {
	return int((h >> 32) * uint64(n) >> 32)
}

// sampler keeps whole connections at a rate, by flow hash.
type sampler struct {
	all   bool
	limit uint64 // keep when the low 32 bits of the hash are below it
}

func newSampler(rate float64) sampler {
	if rate >= 1 {
		return sampler{all: true}
	}
	return sampler{limit: uint64(rate * math.Exp2(32))}
}

func (s sampler) keep(h uint64) bool { return s.all || h&0xffffffff < s.limit }

// seenSet remembers recent flow hashes in a fixed direct-mapped table, so
// that an untracked connection is counted once, not once per packet, in
// bounded memory. A collision may count a connection twice; that is the
// price of never growing.
type seenSet [4096]uint64

// first reports whether h was not in the set, and adds it.
func (s *seenSet) first(h uint64) bool {
	h |= 1 // 0 marks an empty slot
	slot := &s[h>>52]
	if *slot == h {
		return false
	}
	*slot = h
	return true
}
