package classify

import "bytes"

// isIBAN accepts an International Bank Account Number (ISO 13616) in its
// electronic form or its print form (groups of four separated by single
// spaces): a country of the IBAN registry, the length that country's
// IBANs have, check digits 02 to 98 and a remainder of 1 modulo 97.
func isIBAN(v []byte) bool {
	if len(v) < 15 || len(v) > 42 || !isUpper(v[0]) || !isUpper(v[1]) || !isDigit(v[2]) || !isDigit(v[3]) {
		return false
	}
	var buf [34]byte
	n := 0
	printForm := bytes.IndexByte(v, ' ') >= 0
	for i, b := range v {
		// The print form has a space after every four characters.
		if printForm && (i%5 == 4) != (b == ' ') {
			return false
		}
		if b == ' ' {
			if i+1 == len(v) {
				return false
			}
			continue
		}
		if (!isDigit(b) && !isUpper(b)) || n == len(buf) {
			return false
		}
		buf[n] = b
		n++
	}
	want := ibanLengths[string(v[:2])]
	if want == 0 || n != want {
		return false
	}
	check := int(buf[2]-'0')*10 + int(buf[3]-'0')
	if check < 2 || check > 98 {
		return false
	}
	// The remainder of the number made of BBAN, country and check digits,
	// letters as 10 to 35, computed a digit at a time.
	r := 0
	add := func(b byte) {
		if isDigit(b) {
			r = (r*10 + int(b-'0')) % 97
		} else {
			r = (r*100 + int(b-'A'+10)) % 97
		}
	}
	for _, b := range buf[4:n] {
		add(b)
	}
	for _, b := range buf[:4] {
		add(b)
	}
	return r == 1
}

// ibanLengths is the length of each country's IBANs, from SWIFT's IBAN
// registry.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
	"BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
	"EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
	"GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
	"IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
	"LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
	"NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
	"RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
	"SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
