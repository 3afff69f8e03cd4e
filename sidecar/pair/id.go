package pair

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
	"unsafe"

	"github.com/podtap/podtap/sidecar/message"
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

// idLen is the length of an id: 32 hex digits.
const idLen = 32

// pairWithID allocates a pair together with the text of its id, so that a
// pair costs one allocation.
type pairWithID struct {
	pair message.Pair
	id   [idLen]byte
}

// grpcPairWithID adds the gRPC view, which every gRPC pair has, to the
// same allocation.
type grpcPairWithID struct {
	pairWithID
	grpc message.GRPC
}

// newPair returns a pair with a new unique id; a gRPC pair's GRPC points
// at a zero view of its own.
func newPair(proto string) *message.Pair {
	var m *pairWithID
	if proto == message.ProtoGRPC {
		g := new(grpcPairWithID)
		g.pair.GRPC = &g.grpc
		m = &g.pairWithID
	} else {
		m = new(pairWithID)
	}
	var b [16]byte
	copy(b[:8], idPrefix[:])
	binary.BigEndian.PutUint64(b[8:], idCounter.Add(1))
	hex.Encode(m.id[:], b[:])
	// The id's bytes are never written again, so the string may share
	// them.
	m.pair.ID = unsafe.String(&m.id[0], idLen)
	return &m.pair
}
