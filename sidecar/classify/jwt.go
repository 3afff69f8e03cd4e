package classify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
)

// isJWT accepts a JSON Web Token in the JWS compact form of RFC 7519 and
// RFC 7515: three parts of unpadded base64url joined by dots, a header
// that decodes to a JSON object with a string "alg", a payload that
// decodes to JSON, and a signature that decodes and is empty only when
// alg is "none" (an unsecured JWT, RFC 7519 section 6).
func isJWT(v []byte) bool {
	// A header is a JSON object, so it starts with '{' and its base64
	// with "ey" (or "ew" when a space or newline follows the brace).
	if len(v) < 16 || v[0] != 'e' || (v[1] != 'y' && v[1] != 'w') {
		return false
	}
	h, rest, ok := bytes.Cut(v, []byte{'.'})
	if !ok {
		return false
	}
	p, sig, ok := bytes.Cut(rest, []byte{'.'})
	if !ok || bytes.IndexByte(sig, '.') >= 0 || len(p) == 0 {
		return false
	}
	for _, part := range [][]byte{h, p, sig} {
		if !allOf(part, base64url) {
			return false
		}
	}
	header, err := base64.RawURLEncoding.AppendDecode(nil, h)
	if err != nil {
		return false
	}
	var fields struct {
		Alg *string `json:"alg"`
	}
	if json.Unmarshal(header, &fields) != nil || fields.Alg == nil {
		return false
	}
	payload, err := base64.RawURLEncoding.AppendDecode(nil, p)
	if err != nil || !json.Valid(payload) {
		return false
	}
	if len(sig) == 0 {
		return *fields.Alg == "none"
	}
	_, err = base64.RawURLEncoding.AppendDecode(nil, sig)
	return err == nil
}

func base64url(b byte) bool { return isAlnum(b) || b == '-' || b == '_' }
