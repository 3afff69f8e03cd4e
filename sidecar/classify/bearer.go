package classify

// isBearer accepts an Authorization value of the Bearer scheme (RFC 6750):
// "Bearer" in any case, one space, and a token68 of 12 characters or more
// holding both letters and digits, as random tokens do and words do not.
func isBearer(v []byte) bool {
	const scheme = "bearer "
	if len(v) < len(scheme)+12 || (v[0]|0x20) != 'b' {
		return false
	}
	for i := range len(scheme) {
		b := v[i]
		if b != ' ' {
			b |= 0x20
		}
		if b != scheme[i] {
			return false
		}
	}
	tok := v[len(scheme):]
	end := len(tok)
	for end > 0 && tok[end-1] == '=' {
		end--
	}
	letters, digits := false, false
	for _, b := range tok[:end] {
		switch {
		case isDigit(b):
			digits = true
		case isLetter(b):
			letters = true
		case b == '-' || b == '.' || b == '_' || b == '~' || b == '+' || b == '/':
		default:
			return false
		}
	}
	return end > 0 && letters && digits
}
