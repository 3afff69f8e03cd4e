package synth

import "math/rand/v2"

// mixedSize draws a body size like the anchor capture's: 100 B to 64 KiB,
// mean about 4.5 KB, most bodies small and a long tail of large ones.
func mixedSize(rng *rand.Rand) int {
	return min(100+int(rng.ExpFloat64()*4400), 64<<10)
}
