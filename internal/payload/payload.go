// Package payload makes the JSON bodies that benchmarks and the bench's
// captures carry: the shape of a typical API body, deterministic per seed,
// so that a capture made twice is the same and a benchmark times the mix
// of short keys, short strings and numbers a body scanner sees in
// production.
package payload

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// MinSize is the smallest document Order makes.
const MinSize = 100

// Order appends a compact JSON document of exactly size bytes (at least
// MinSize): an order with line items, its last string padded to the size.
func Order(dst []byte, size int, seed uint64) []byte {
	size = max(size, MinSize)
	start := len(dst)
	rng := rand.New(rand.NewPCG(seed, 7))
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, seed, 10)
	dst = append(dst, `,"customer":"customer-`...)
	dst = strconv.AppendUint(dst, seed%9973, 10)
	dst = append(dst, `","items":[`...)
	const item = len(`{"sku":"sku-000000","qty":00,"price":0000.00,"tags":["fast","fragile"]},`)
	for i := 0; len(dst)-start+item+len(`],"note":""}`) < size; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"sku":"sku-`...)
		dst = strconv.AppendInt(dst, 100000+rng.Int64N(900000), 10)
		dst = append(dst, `","qty":`...)
		dst = strconv.AppendInt(dst, 1+rng.Int64N(99), 10)
		dst = append(dst, `,"price":`...)
		dst = strconv.AppendFloat(dst, math.Round(rng.Float64()*999900)/100, 'f', -1, 64)
		dst = append(dst, `,"tags":["fast","fragile"]}`...)
	}
	dst = append(dst, `],"note":"`...)
	for len(dst)-start < size-2 {
		dst = append(dst, "lorem ipsum dolor sit amet "[(len(dst)-start)%27])
	}
	return append(dst, `"}`...)
}
