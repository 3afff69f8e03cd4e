package classify

// isPhone accepts a telephone number in one of three forms:
//   - international: "+", an assigned ITU-T E.164 country code, and 8 to 15
//     digits in all, optionally grouped by single spaces, hyphens or dots,
//     with one parenthesised group ("+1 (415) 555-2671", "+442079460958");
//   - North American (NANP): "(NXX) NXX-XXXX", "NXX-NXX-XXXX",
//     "NXX.NXX.XXXX", "NXX NXX XXXX", with or without a leading "1-", whose
//     area code and exchange start with 2-9 and whose area code is not
//     N11 nor N9X (reserved);
//   - national with a trunk prefix: 0, then a digit 1-9, 10 or 11 digits in
//     all, in two to five groups of two digits or more separated by one kind
//     of separator ("020 7946 0958", "06 12 34 56 78").
//
// A bare run of digits without "+" is not accepted: ids look the same.
func isPhone(v []byte) bool {
	if len(v) < 8 || len(v) > 24 {
		return false
	}
	var groups [8]int
	var digits [16]byte
	n, g, sep, ok := phoneGroups(v, &groups, &digits)
	if !ok {
		return false
	}
	d := digits[:n]
	switch {
	case v[0] == '+':
		return n >= 8 && n <= 15 && countryCode(d)
	case d[0] == '0':
		return sep != '.' && sep != 0 && d[1] != '0' && (n == 10 || n == 11) && g >= 2 && g <= 5 && minGroup(groups[:g]) >= 2
	}
	return nanp(v, d, groups[:g])
}

// phoneGroups splits v into groups of digits and checks the separators:
// one kind of separator between groups, parentheses only around a group.
func phoneGroups(v []byte, groups *[8]int, digits *[16]byte) (n, g int, sep byte, ok bool) {
	i := 0
	if v[0] == '+' {
		i = 1
	}
	open := false
	inGroup := false
	for ; i < len(v); i++ {
		b := v[i]
		switch {
		case isDigit(b):
			if n == len(digits) {
				return 0, 0, 0, false
			}
			if !inGroup {
				if g == len(groups) {
					return 0, 0, 0, false
				}
				g++
				inGroup = true
			}
			digits[n] = b
			n++
			groups[g-1]++
		case b == '(':
			if open || inGroup || g > 2 {
				return 0, 0, 0, false
			}
			open = true
		case b == ')':
			if !open || !inGroup {
				return 0, 0, 0, false
			}
			open = false
			inGroup = false
			// "(415) 555" or "(415)555": a space may follow.
			if i+1 < len(v) && v[i+1] == ' ' {
				i++
			}
		case b == ' ' && i+1 < len(v) && v[i+1] == '(':
			// "+1 (415) 555-0132": the space before the parenthesis is
			// not the numbers' separator.
			if !inGroup {
				return 0, 0, 0, false
			}
			inGroup = false
		case b == ' ' || b == '-' || b == '.':
			if !inGroup || open || (sep != 0 && sep != b) {
				return 0, 0, 0, false
			}
			sep = b
			inGroup = false
		default:
			return 0, 0, 0, false
		}
	}
	return n, g, sep, inGroup && !open && n >= 8
}

func minGroup(g []int) int {
	m := g[0]
	for _, x := range g[1:] {
		m = min(m, x)
	}
	return m
}

// nanp accepts the North American forms.
func nanp(v, d []byte, g []int) bool {
	switch {
	case len(d) == 11 && d[0] == '1' && len(g) == 4 && g[0] == 1:
		d, g = d[1:], g[1:]
	case len(d) == 10 && len(g) == 3:
	default:
		return false
	}
	if g[0] != 3 || g[1] != 3 || g[2] != 4 {
		return false
	}
	if v[0] != '(' && v[0] != '1' && !(v[3] == '-' || v[3] == '.' || v[3] == ' ') {
		return false
	}
	area, exchange := d[:3], d[3:6]
	return area[0] >= '2' && exchange[0] >= '2' && !(area[1] == '1' && area[2] == '1') && area[1] != '9'
}

// countryCode reports whether d starts with an assigned E.164 country
// code (ITU-T, the list of assigned codes).
func countryCode(d []byte) bool {
	if d[0] == '1' || d[0] == '7' {
		return true
	}
	two := int(d[0]-'0')*10 + int(d[1]-'0')
	if countryCodes2[two] {
		return true
	}
	three := two*10 + int(d[2]-'0')
	return countryCodes3[three]
}

var countryCodes2 = func() (t [100]bool) {
	for _, c := range []int{20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49,
		51, 52, 53, 54, 55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98} {
		t[c] = true
	}
	return t
}()

var countryCodes3 = func() (t [1000]bool) {
	for _, r := range [][2]int{
		{211, 213}, {216, 216}, {218, 218}, {220, 258}, {260, 269}, {290, 291}, {297, 299},
		{350, 359}, {370, 378}, {380, 383}, {385, 387}, {389, 389}, {420, 421}, {423, 423},
		{500, 509}, {590, 599}, {670, 670}, {672, 683}, {685, 692}, {800, 800}, {808, 808},
		{850, 850}, {852, 853}, {855, 856}, {870, 870}, {878, 878}, {880, 883}, {886, 886}, {888, 888},
		{960, 968}, {970, 977}, {979, 979}, {992, 996}, {998, 998},
	} {
		for c := r[0]; c <= r[1]; c++ {
			t[c] = true
		}
	}
	return t
}()
