package classify

import "bytes"

// isAPIKey accepts the credentials whose issuers give them a fixed prefix
// and shape:
//   - AWS access key ids: AKIA (long-term) or ASIA (temporary), then 16
//     characters of base32 (A-Z, 2-7);
//   - GitHub tokens: ghp_, gho_, ghu_, ghs_ or ghr_ and 36 alphanumerics,
//     or github_pat_, 22 alphanumerics, "_" and 59 alphanumerics;
//   - Slack tokens: xoxb-, xoxp-, xoxa-, xoxs-, xoxr-, xoxe- or xoxo-,
//     then at least two numeric ids and a secret of 24 or more
//     alphanumerics, joined by hyphens;
//   - Stripe secret and restricted keys: sk_ or rk_, live_ or test_, and
//     24 to 247 alphanumerics.
func isAPIKey(v []byte) bool {
	switch v[0] {
	case 'A':
		return len(v) == 20 && (bytes.HasPrefix(v, []byte("AKIA")) || bytes.HasPrefix(v, []byte("ASIA"))) && allOf(v[4:], base32)
	case 'g':
		if len(v) == 40 && v[0] == 'g' && v[1] == 'h' && v[3] == '_' && bytes.IndexByte([]byte("pousr"), v[2]) >= 0 {
			return allOf(v[4:], isAlnum)
		}
		if len(v) == 93 && bytes.HasPrefix(v, []byte("github_pat_")) && v[33] == '_' {
			return allOf(v[11:33], isAlnum) && allOf(v[34:], isAlnum)
		}
	case 'x':
		return isSlack(v)
	case 's', 'r':
		if len(v) < 32 || v[1] != 'k' || v[2] != '_' {
			return false
		}
		rest, ok := bytes.CutPrefix(v[3:], []byte("live_"))
		if !ok {
			rest, ok = bytes.CutPrefix(v[3:], []byte("test_"))
		}
		return ok && len(rest) >= 24 && len(rest) <= 247 && allOf(rest, isAlnum)
	}
	return false
}

func base32(b byte) bool { return isUpper(b) || (b >= '2' && b <= '7') }

func isSlack(v []byte) bool {
	if len(v) < 40 || !bytes.HasPrefix(v, []byte("xox")) || bytes.IndexByte([]byte("bpasreo"), v[3]) < 0 || v[4] != '-' {
		return false
	}
	parts := bytes.Split(v[5:], []byte{'-'})
	if len(parts) < 3 {
		return false
	}
	secret := parts[len(parts)-1]
	if len(secret) < 24 || !allOf(secret, isAlnum) {
		return false
	}
	for _, id := range parts[:len(parts)-1] {
		if len(id) == 0 || len(id) > 14 || !allOf(id, isDigit) {
			return false
		}
	}
	return true
}
