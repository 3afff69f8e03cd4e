package message

// Tally hears, per server, what became of connections and pairs, for the
// coverage report. Implementations are safe for concurrent use and cheap,
// since the stages call them per connection and per pair.
type Tally interface {
	// Conn counts a connection under what detection made of it (the
	// protocol label of podtap_connections_total).
	Conn(server Endpoint, protocol string)
	// TLS counts a TLS connection podtap could not read, with what its
	// ClientHello offered (alpn comma separated) and why.
	TLS(server Endpoint, sni, alpn, reason string)
	// Drop counts a request or response that never became a pair.
	Drop(server Endpoint, reason string)
	// DropPair counts a pair dropped for reason.
	DropPair(p *Pair, reason string)
}

// NoTally is the Tally that counts nothing, for stages used without a
// coverage report.
type NoTally struct{}

func (NoTally) Conn(Endpoint, string)                {}
func (NoTally) TLS(Endpoint, string, string, string) {}
func (NoTally) Drop(Endpoint, string)                {}
func (NoTally) DropPair(*Pair, string)               {}
