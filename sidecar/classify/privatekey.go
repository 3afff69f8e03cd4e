package classify

import (
	"bytes"
	"encoding/asn1"
	"encoding/pem"
)

// privateKeyTypes are the PEM labels of private keys (RFC 7468 and the
// legacy OpenSSL and OpenSSH ones).
var privateKeyTypes = []string{
	"PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY",
	"DSA PRIVATE KEY", "OPENSSH PRIVATE KEY",
}

// isPrivateKey accepts a PEM private key: a block whose label is a private
// key's, whose base64 decodes, and whose content is one whole DER value of
// type SEQUENCE (PKCS #1, #8, SEC 1) or, for OpenSSH, starts with its
// magic "openssh-key-v1".
func isPrivateKey(v []byte) bool {
	if !bytes.HasPrefix(v, []byte("-----BEGIN ")) {
		return false
	}
	block, _ := pem.Decode(v)
	if block == nil {
		return false
	}
	known := false
	for _, t := range privateKeyTypes {
		known = known || block.Type == t
	}
	if !known {
		return false
	}
	if block.Type == "OPENSSH PRIVATE KEY" {
		return bytes.HasPrefix(block.Bytes, []byte("openssh-key-v1\x00"))
	}
	var seq asn1.RawValue
	rest, err := asn1.Unmarshal(block.Bytes, &seq)
	// Legacy encrypted PEM (Proc-Type headers) holds ciphertext, not DER.
	if block.Headers["Proc-Type"] != "" {
		return len(block.Bytes) > 0
	}
	return err == nil && len(rest) == 0 && seq.Class == asn1.ClassUniversal && seq.Tag == asn1.TagSequence && seq.IsCompound
}
