package classify

import (
	"bytes"
	"time"
)

// isDateOfBirth accepts a date in a field named for a date of birth
// (dob, date_of_birth, dateOfBirth, birth_date, birthdate, birthday, in
// any case and with any of "_", "-", "." between words): an ISO 8601 date
// YYYY-MM-DD or YYYYMMDD, possibly with a time after it (RFC 3339), or
// DD/MM/YYYY, MM/DD/YYYY, YYYY/MM/DD and DD.MM.YYYY, of a real day between
// 1880 and today.
func isDateOfBirth(key, v []byte) bool {
	if len(v) < 8 || len(v) > 35 || !birthKey(key) {
		return false
	}
	switch {
	case len(v) == 8:
		return validDate(num(v[:4]), num(v[4:6]), num(v[6:8]))
	case len(v) >= 10 && v[4] == '-' && v[7] == '-':
		if len(v) > 10 && v[10] != 'T' && v[10] != 't' && v[10] != ' ' {
			return false
		}
		return validDate(num(v[:4]), num(v[5:7]), num(v[8:10]))
	case len(v) == 10 && v[4] == '/' && v[7] == '/':
		return validDate(num(v[:4]), num(v[5:7]), num(v[8:10]))
	case len(v) == 10 && v[2] == '/' && v[5] == '/':
		a, b, y := num(v[:2]), num(v[3:5]), num(v[6:10])
		return validDate(y, b, a) || validDate(y, a, b)
	case len(v) == 10 && v[2] == '.' && v[5] == '.':
		return validDate(num(v[6:10]), num(v[3:5]), num(v[:2]))
	}
	return false
}

// birthKeys are the names' words run together, lower-cased.
var birthKeys = [][]byte{[]byte("dateofbirth"), []byte("birthdate"), []byte("birthday")}

func birthKey(key []byte) bool {
	if len(key) < 3 || len(key) > 40 {
		return false
	}
	var buf [40]byte
	k := buf[:0]
	for _, b := range key {
		switch {
		case b == '_' || b == '-' || b == '.':
		case isUpper(b):
			k = append(k, b+'a'-'A')
		default:
			k = append(k, b)
		}
	}
	if string(k) == "dob" {
		return true
	}
	for _, s := range birthKeys {
		if bytes.HasSuffix(k, s) {
			return true
		}
	}
	return false
}

// num is the value of a run of digits, or -1.
func num(v []byte) int {
	n := 0
	for _, b := range v {
		if !isDigit(b) {
			return -1
		}
		n = n*10 + int(b-'0')
	}
	return n
}

func validDate(y, m, d int) bool {
	if y < 1880 || m < 1 || m > 12 || d < 1 {
		return false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	return t.Day() == d && !t.After(time.Now())
}
