// Package classify tells the sensitive values of a record apart by their
// value: a validator per type checks structure and check digits (Luhn,
// mod-97, decodable base64 and JSON), so that a value is tagged only when a
// validator accepts it. It runs on every string value the encoder writes,
// so each call rejects the common value by its length and first byte before
// any validator reads it.
package classify

import "github.com/podtap/podtap/config"

// Type is a sensitive type; None is no type.
type Type uint8

const (
	None Type = iota
	Email
	Phone
	Card
	IBAN
	SSN
	JWT
	APIKey
	PrivateKey
	BearerToken
	IP
	DateOfBirth
	numTypes
)

var names = [numTypes]string{
	Email:       config.TypeEmail,
	Phone:       config.TypePhone,
	Card:        config.TypeCard,
	IBAN:        config.TypeIBAN,
	SSN:         config.TypeSSN,
	JWT:         config.TypeJWT,
	APIKey:      config.TypeAPIKey,
	PrivateKey:  config.TypePrivateKey,
	BearerToken: config.TypeBearerToken,
	IP:          config.TypeIP,
	DateOfBirth: config.TypeDateOfBirth,
}

// String is the type's name in records and settings, "" for None.
func (t Type) String() string {
	if t >= numTypes {
		return ""
	}
	return names[t]
}

// ParseType returns the type named name.
func ParseType(name string) (Type, bool) {
	for t := Email; t < numTypes; t++ {
		if names[t] == name {
			return t, true
		}
	}
	return None, false
}

// Set is a set of types.
type Set uint16

// Has reports whether t is in s.
func (s Set) Has(t Type) bool { return t != None && s&(1<<t) != 0 }

// With returns s with t added.
func (s Set) With(t Type) Set { return s | 1<<t }

// SetOf returns the set of the named types; names that are no type are
// ignored (config.Redact's validation rejects them).
func SetOf(names map[string]bool) Set {
	var s Set
	for n := range names {
		if t, ok := ParseType(n); ok {
			s = s.With(t)
		}
	}
	return s
}

// minLen is the length of the shortest value any validator accepts
// ("a@b.co"); "::1" and its kin are left untagged for it.
const minLen = 6

// maxShort is the longest value a validator of bounded length accepts (an
// email address); past it only JWTs, private keys and bearer tokens, whose
// prefixes are tested in constant time, are looked for.
const maxShort = 254

// starts marks the bytes a value of some type can start with.
var starts = func() (t [256]bool) {
	for b := '0'; b <= '9'; b++ {
		t[b] = true
	}
	for b := 'a'; b <= 'z'; b++ {
		t[b], t[b-'a'+'A'] = true, true
	}
	for _, b := range "+(-:" {
		t[b] = true
	}
	return t
}()

// MayMatch is the test that rejects most values before a call to Value: it
// is small enough to be inlined into the body scanner's loop. A long value
// passes only when it starts as a JWT, a PEM block or a bearer token can.
func MayMatch(v []byte) bool {
	return len(v) >= minLen && starts[v[0]] && (len(v) <= maxShort || longStarts[v[0]])
}

// longStarts marks the first bytes of the types of unbounded length.
var longStarts = [256]bool{'e': true, '-': true, 'B': true, 'b': true}

// Value returns the type of v, the value of the field named key (empty
// when the value has no name, as an array's element), or None. v is the
// value as decoded (a JSON string's escapes resolved). Only values that
// start with a digit or a colon are judged by their key, so a caller may
// leave it out for the others.
func Value(key, v []byte) Type {
	if !MayMatch(v) {
		return None
	}
	switch c := v[0]; {
	case c == '-':
		if isPrivateKey(v) {
			return PrivateKey
		}
	case c == '+' || c == '(':
		if isPhone(v) {
			return Phone
		}
	case c == ':':
		if isIPv6(key, v) {
			return IP
		}
	case c >= '0' && c <= '9':
		return digitFirst(key, v)
	default:
		return letterFirst(key, v)
	}
	return None
}

func digitFirst(key, v []byte) Type {
	if len(v) > maxShort {
		return None
	}
	switch {
	case isSSN(v):
		return SSN
	case isCard(v):
		return Card
	case isIPv4(key, v):
		return IP
	case isIPv6(key, v):
		return IP
	case isDateOfBirth(key, v):
		return DateOfBirth
	case isPhone(v):
		return Phone
	case isEmail(v):
		return Email
	}
	return None
}

// shortLetters is the length below which a value that starts with a
// letter can only be an email address or an IPv6 address: every other
// type starting with a letter is longer.
const shortLetters = 15

// NeedsAtOrColon reports whether v, a value MayMatch passed, can be of a
// type only if it holds an '@' or a ':': a short value that starts with a
// letter. It lets a scanner that noted those bytes while it read the value
// skip the call to Value for the many short names, identifiers and
// enumerations of an API body.
func NeedsAtOrColon(v []byte) bool {
	return len(v) < shortLetters && isLetter(v[0])
}

func letterFirst(key, v []byte) Type {
	if len(v) < shortLetters && !hasAtOrColon(v) {
		return None
	}
	switch {
	case isJWT(v):
		return JWT
	case isBearer(v):
		return BearerToken
	case len(v) > maxShort:
		return None
	case isAPIKey(v):
		return APIKey
	case isIBAN(v):
		return IBAN
	case isEmail(v):
		return Email
	case isIPv6(key, v):
		return IP
	}
	return None
}

func isDigit(b byte) bool { return b-'0' < 10 }

func isUpper(b byte) bool { return b-'A' < 26 }

func isAlnum(b byte) bool {
	return isDigit(b) || isUpper(b) || b-'a' < 26
}

// allOf reports whether every byte of v passes ok.
func allOf(v []byte, ok func(byte) bool) bool {
	for _, b := range v {
		if !ok(b) {
			return false
		}
	}
	return true
}

// hasAtOrColon reports whether v holds an '@' or a ':', without which a
// short value is neither an email address nor an IPv6 address.
func hasAtOrColon(v []byte) bool {
	for _, b := range v {
		if b == '@' || b == ':' {
			return true
		}
	}
	return false
}
