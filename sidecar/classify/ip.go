package classify

import (
	"bytes"
	"net/netip"
)

// isIPv4 accepts a dotted-quad IPv4 address as net/netip parses it (no
// leading zeros), outside 0.0.0.0/8, unless the field's name says it holds
// a version ("version": "1.2.3.4").
func isIPv4(key, v []byte) bool {
	if len(v) < 7 || len(v) > 15 || v[0] == '0' {
		return false
	}
	dots := 0
	for _, b := range v {
		if b == '.' {
			dots++
		} else if !isDigit(b) {
			return false
		}
	}
	if dots != 3 {
		return false
	}
	a, err := netip.ParseAddr(string(v))
	return err == nil && a.Is4() && !versionKey(key)
}

// isIPv6 accepts an IPv6 address as net/netip parses it, with at least two
// colons, other than the unspecified address.
func isIPv6(key, v []byte) bool {
	if len(v) > 64 || !(isHex(v[0]) || v[0] == ':') {
		return false
	}
	colon := bytes.IndexByte(v, ':')
	if colon < 0 || bytes.IndexByte(v[colon+1:], ':') < 0 {
		return false
	}
	for _, b := range v {
		if !isHex(b) && b != ':' && b != '.' && b != '%' && !isAlnum(b) {
			return false
		}
	}
	a, err := netip.ParseAddr(string(v))
	return err == nil && a.Is6() && !a.IsUnspecified() && !versionKey(key)
}

func isHex(b byte) bool { return isDigit(b) || (b|0x20)-'a' < 6 }

// versionKey reports whether a field's name contains "version".
func versionKey(key []byte) bool {
	return bytes.Contains(bytes.ToLower(key), []byte("version"))
}
