package http1

import (
	"strings"

	"github.com/podtap/podtap/sidecar/message"
)

// lowerToken maps each RFC 9110 tchar to its lower-case form and every
// other byte to 0: one table lookup both validates and folds a header name.
var lowerToken = func() (t [256]byte) {
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c)
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = byte(c)
		t[c-'a'+'A'] = byte(c)
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] = c
	}
	return t
}()

func isToken(c byte) bool { return lowerToken[c] != 0 }

// knownMethods are methods that real clients send. A request line cut by a
// capture gap can still look valid ("ET / HTTP/1.1"), so after a gap only a
// known method is trusted at the very first byte.
var knownMethods = []string{
	"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH", "PURGE",
}

func knownMethod[T string | []byte](m T) bool {
	for _, k := range knownMethods {
		if string(m) == k {
			return true
		}
	}
	return false
}

// trimEOL drops the line feed and an optional carriage return before it.
func trimEOL[T string | []byte](l T) T {
	if n := len(l); n > 0 && l[n-1] == '\n' {
		l = l[:n-1]
	}
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	return l
}

// strictRequestLine reports whether l (one line, with or without its
// line ending) is exactly "token SP target SP HTTP/1.0|1.1". Resync and
// Sniff use it: they guess where messages start, so only a well-formed
// line is believed. knownOnly requires a method from knownMethods.
func strictRequestLine[T string | []byte](l T, knownOnly bool) bool {
	l = trimEOL(l)
	m := 0
	for m < len(l) && isToken(l[m]) {
		m++
	}
	if m == 0 || m >= len(l) || l[m] != ' ' || (knownOnly && !knownMethod(l[:m])) {
		return false
	}
	n := len(l)
	if n-m < 1+1+1+8 || l[n-9] != ' ' || !isVersion(l[n-8:]) {
		return false
	}
	for i := m + 1; i < n-9; i++ {
		if c := l[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// strictStatusLine reports whether l is "HTTP/1.0|1.1 SP 3DIGIT" followed by
// SP or the end of the line.
func strictStatusLine[T string | []byte](l T) bool {
	l = trimEOL(l)
	if len(l) < 12 || !isVersion(l[:8]) || l[8] != ' ' || !isDigit(l[9]) || !isDigit(l[10]) || !isDigit(l[11]) {
		return false
	}
	return len(l) == 12 || l[12] == ' '
}

func isVersion[T string | []byte](v T) bool {
	return len(v) == 8 && string(v[:7]) == "HTTP/1." && (v[7] == '0' || v[7] == '1')
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// requestLine is a parsed request line.
type requestLine struct {
	method, target, proto string
	// nonstandard marks a line accepted only by leniency: no target, no
	// version, or a version other than HTTP/1.0 and HTTP/1.1. Servers
	// answer such requests, so they are kept (and flagged) to keep the
	// connection's pairing aligned.
	nonstandard bool
}

// parseRequestLine reads a request line at a known message boundary. It is
// as lenient as servers are: the method must be a token, but a missing
// version ("GET /x"), odd HTTP/1.x versions, and a known method alone
// ("OPTIONS") pass.
// Anything else, e.g. "GET/ HTTP/1.1" or bytes that are not a token, fails.
func parseRequestLine(l string) (requestLine, bool) {
	var r requestLine
	m := 0
	for m < len(l) && isToken(l[m]) {
		m++
	}
	if m == 0 || (m < len(l) && l[m] != ' ' && l[m] != '\t') {
		return r, false
	}
	r.method, r.proto = l[:m], message.ProtoHTTP11
	rest := trimOWSString(l[m:])
	if rest == "" {
		// A lone word is a request only if it is a method clients use.
		r.nonstandard, r.proto = true, message.ProtoHTTP10
		return r, knownMethod(r.method)
	}
	sp := len(rest) - 1
	for sp >= 0 && rest[sp] != ' ' && rest[sp] != '\t' {
		sp--
	}
	if sp < 0 {
		r.target, r.nonstandard, r.proto = rest, true, message.ProtoHTTP10
		return r, validTarget(rest)
	}
	r.target, r.proto = trimOWSString(rest[:sp]), ""
	switch v := rest[sp+1:]; {
	case v == "HTTP/1.1":
		r.proto = message.ProtoHTTP11
	case v == "HTTP/1.0":
		r.proto = message.ProtoHTTP10
	case strings.HasPrefix(v, "HTTP/1."):
		r.proto, r.nonstandard = message.ProtoHTTP11, true
	case v == "HTTP/0.9":
		r.proto, r.nonstandard = message.ProtoHTTP10, true
	default:
		return r, false
	}
	return r, validTarget(r.target)
}

// trimOWSString drops spaces and tabs at both ends.
func trimOWSString(s string) string {
	i, j := 0, len(s)
	for i < j && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	for j > i && (s[j-1] == ' ' || s[j-1] == '\t') {
		j--
	}
	return s[i:j]
}

// validTarget accepts any request-target without control bytes. Raw
// spaces and UTF-8 are not valid, but real clients send them and servers
// answer, so only control bytes (which no server accepts) fail.
func validTarget(t string) bool {
	for i := 0; i < len(t); i++ {
		if c := t[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// parseStatusLine reads "HTTP/1.x SP 3DIGIT [SP reason]".
func parseStatusLine(l string) (proto string, status int, ok bool) {
	if len(l) < 12 || !isVersion(l[:8]) {
		return "", 0, false
	}
	proto = message.ProtoHTTP11
	if l[7] == '0' {
		proto = message.ProtoHTTP10
	}
	rest := strings.TrimLeft(l[8:], " ")
	if len(rest) == len(l)-8 || len(rest) < 3 || !isDigit(rest[0]) || !isDigit(rest[1]) || !isDigit(rest[2]) {
		return "", 0, false
	}
	if len(rest) > 3 && rest[3] != ' ' && rest[3] != '\t' {
		return "", 0, false
	}
	status = int(rest[0]-'0')*100 + int(rest[1]-'0')*10 + int(rest[2]-'0')
	return proto, status, status >= 100
}

// splitTarget splits a request-target into path, query and, for the
// absolute form (proxies) and the authority form (CONNECT), its authority.
func splitTarget(method, target string) (path, query, authority string) {
	if method == "CONNECT" && target != "" && target[0] != '/' {
		return "", "", target
	}
	if i := strings.Index(target, "://"); i > 0 && target[0] != '/' {
		rest := target[i+3:]
		end := strings.IndexAny(rest, "/?")
		if end < 0 {
			return "/", "", rest
		}
		authority, target = rest[:end], rest[end:]
		if target[0] == '?' {
			return "/", target[1:], authority
		}
	}
	path, query, _ = strings.Cut(target, "?")
	return path, query, authority
}
