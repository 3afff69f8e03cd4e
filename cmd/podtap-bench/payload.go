package main

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// jsonPayload appends a JSON document of exactly size bytes (at least
// minPayload): an order with line items, the shape of a typical API body,
// its last string padded to the size. seed makes it deterministic.
func jsonPayload(dst []byte, size int, seed uint64) []byte {
	size = max(size, minPayload)
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

// minPayload is the smallest document jsonPayload makes.
const minPayload = 100

// mixedSize draws a body size like the anchor capture's: 100 B to 64 KiB,
// mean about 4.5 KB, most bodies small and a long tail of large ones.
func mixedSize(rng *rand.Rand) int {
	return min(100+int(rng.ExpFloat64()*4400), 64<<10)
}
