package classify

// isSSN accepts a US Social Security number written AAA-GG-SSSS, with the
// Social Security Administration's rules for numbers never issued: area
// 000, 666 and 900-999, group 00 and serial 0000; and the numbers the SSA
// lists as invalid because they were published (078-05-1120 from a wallet
// insert, 219-09-9999 from an advertisement) and the placeholder
// 123-45-6789. Nine bare digits are not accepted: ids look the same.
func isSSN(v []byte) bool {
	if len(v) != 11 || v[3] != '-' || v[6] != '-' {
		return false
	}
	for i, b := range v {
		if i != 3 && i != 6 && !isDigit(b) {
			return false
		}
	}
	area, group, serial := string(v[:3]), string(v[4:6]), string(v[7:])
	if area == "000" || area == "666" || area[0] == '9' || group == "00" || serial == "0000" {
		return false
	}
	switch string(v) {
	case "078-05-1120", "219-09-9999", "123-45-6789":
		return false
	}
	return true
}
