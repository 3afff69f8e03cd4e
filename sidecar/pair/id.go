package pair

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
)

// IDs are a random per-process prefix and a counter: unique without a
// syscall or a lock per pair, which uuid generation would cost at
// hundreds of thousands of pairs a second.
var (
	idPrefix  [8]byte
	idCounter atomic.Uint64
)

func init() {
	if _, err := rand.Read(idPrefix[:]); err != nil {
		panic("pair: no randomness for ids: " + err.Error())
	}
}

// NewID returns a unique 32-hex-digit pair id.
func NewID() string {
	var b [16]byte
	copy(b[:8], idPrefix[:])
	binary.BigEndian.PutUint64(b[8:], idCounter.Add(1))
	return hex.EncodeToString(b[:])
}
