package classify

// isCard accepts a payment card number: 13 to 19 digits, as one run or in
// groups of four (Amex 4-6-5, Diners 4-6-4) separated by single spaces or
// hyphens, whose Luhn check digit is right and whose leading digits (IIN)
// and length belong to a card network.
func isCard(v []byte) bool {
	if len(v) < 13 || len(v) > 23 {
		return false
	}
	var digits [19]byte
	n, groups := 0, [6]int{}
	g := 0
	var sep byte
	for i, b := range v {
		switch {
		case isDigit(b):
			if n == len(digits) {
				return false
			}
			digits[n] = b - '0'
			n++
			groups[g]++
		case (b == ' ' || b == '-') && i > 0 && isDigit(v[i-1]) && (sep == 0 || sep == b):
			sep = b
			if g++; g == len(groups) {
				return false
			}
		default:
			return false
		}
	}
	if !isDigit(v[len(v)-1]) || n < 13 {
		return false
	}
	if g > 0 && !cardGrouping(groups[:g+1]) {
		return false
	}
	return luhn(digits[:n]) && networkAccepts(digits[:n])
}

// cardGrouping accepts the groupings printed on cards.
func cardGrouping(g []int) bool {
	switch len(g) {
	case 3:
		return g[0] == 4 && g[1] == 6 && (g[2] == 5 || g[2] == 4)
	case 4, 5:
		for i, n := range g {
			if n != 4 && !(i == len(g)-1 && n >= 1 && n <= 3) {
				return false
			}
		}
		return len(g) == 4 || g[4] <= 3
	}
	return false
}

func luhn(d []byte) bool {
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		x := int(d[i])
		if double {
			if x *= 2; x > 9 {
				x -= 9
			}
		}
		sum += x
		double = !double
	}
	return sum%10 == 0
}

// network is an IIN range and the lengths its cards have.
type network struct {
	lo, hi int // the range of the first digits, both of len(lo) digits
	// lengths has bit n set when the network's cards have n digits.
	lengths uint32
}

// lengths returns the mask of the lengths min to max.
func lengths(min, max int) uint32 { return (1<<(max+1) - 1) &^ (1<<min - 1) }

// networks are the card networks' IIN ranges (ISO/IEC 7812 as the networks
// publish them): Visa, Mastercard, American Express, Discover, JCB, Diners
// Club, UnionPay, Maestro and Mir.
var networks = []network{
	{4, 4, 1<<13 | 1<<16 | 1<<19},     // Visa
	{51, 55, lengths(16, 16)},         // Mastercard
	{2221, 2720, lengths(16, 16)},     // Mastercard 2-series
	{34, 34, lengths(15, 15)},         // American Express
	{37, 37, lengths(15, 15)},         // American Express
	{6011, 6011, lengths(16, 19)},     // Discover
	{644, 649, lengths(16, 19)},       // Discover
	{65, 65, lengths(16, 19)},         // Discover
	{622126, 622925, lengths(16, 19)}, // Discover co-branded UnionPay
	{62, 62, lengths(16, 19)},         // UnionPay
	{3528, 3589, lengths(16, 19)},     // JCB
	{300, 305, lengths(14, 19)},       // Diners Club International
	{3095, 3095, lengths(14, 19)},     // Diners Club International
	{36, 36, lengths(14, 19)},         // Diners Club International
	{38, 39, lengths(16, 19)},         // Diners Club
	{5018, 5018, lengths(12, 19)},     // Maestro
	{5020, 5020, lengths(12, 19)},     // Maestro
	{5038, 5038, lengths(12, 19)},     // Maestro
	{5893, 5893, lengths(12, 19)},     // Maestro
	{6304, 6304, lengths(12, 19)},     // Maestro
	{6759, 6759, lengths(12, 19)},     // Maestro
	{6761, 6763, lengths(12, 19)},     // Maestro
	{2200, 2204, lengths(16, 16)},     // Mir
}

func networkAccepts(d []byte) bool {
	for _, nw := range networks {
		if nw.lengths&(1<<len(d)) == 0 {
			continue
		}
		width := 1
		for x := nw.lo; x >= 10; x /= 10 {
			width++
		}
		prefix := 0
		for _, x := range d[:width] {
			prefix = prefix*10 + int(x)
		}
		if prefix >= nw.lo && prefix <= nw.hi {
			return true
		}
	}
	return false
}
