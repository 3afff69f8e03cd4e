package tlshello

// Verdict is what Sniff makes of the first bytes of one side.
type Verdict uint8

const (
	// Maybe: the bytes so far could start a ClientHello.
	Maybe Verdict = iota
	// No: they cannot.
	No
	// Yes: a handshake record whose first message is a ClientHello.
	Yes
)

// Sniff tells from the first bytes of a side whether they start a
// ClientHello, so that a connection is known as TLS before it is read.
func Sniff(b []byte) Verdict {
	if len(b) == 0 || !plausibleHeader(b[:min(len(b), 5)]) {
		return No
	}
	if len(b) < 6 {
		return Maybe
	}
	if b[5] != typeClientHello {
		return No
	}
	return Yes
}
