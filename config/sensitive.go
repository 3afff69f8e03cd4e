package config

import (
	"fmt"
	"slices"
	"strings"
)

// The sensitive types, as records name them in "sensitive" and as
// redact.types and podtap.io/redact-types take them.
const (
	TypeEmail       = "email"
	TypePhone       = "phone"
	TypeCard        = "card"
	TypeIBAN        = "iban"
	TypeSSN         = "ssn"
	TypeJWT         = "jwt"
	TypeAPIKey      = "api_key"
	TypePrivateKey  = "private_key"
	TypeBearerToken = "bearer_token"
	TypeIP          = "ip"
	TypeDateOfBirth = "date_of_birth"
)

// SensitiveTypes lists every type, in documentation order.
var SensitiveTypes = []string{
	TypeEmail, TypePhone, TypeCard, TypeIBAN, TypeSSN, TypeJWT,
	TypeAPIKey, TypePrivateKey, TypeBearerToken, TypeIP, TypeDateOfBirth,
}

// Groups of types that redact.types accepts as one name.
const (
	TypeGroupCredentials = "credentials"
	TypeGroupPersonal    = "personal"
)

// TypeGroups maps each group to its types.
var TypeGroups = map[string][]string{
	TypeGroupCredentials: {TypeAPIKey, TypeBearerToken, TypeJWT, TypePrivateKey},
	TypeGroupPersonal:    {TypeEmail, TypePhone, TypeIBAN, TypeSSN, TypeIP, TypeDateOfBirth},
}

// RedactTypes expands redact.types, groups included, into the set of
// type names it masks.
func (r Redact) RedactTypes() map[string]bool {
	out := map[string]bool{}
	for _, t := range r.Types {
		t = strings.ToLower(strings.TrimSpace(t))
		if g, ok := TypeGroups[t]; ok {
			for _, m := range g {
				out[m] = true
			}
		} else if t != "" {
			out[t] = true
		}
	}
	return out
}

// checkTypes accepts a comma-separated list of type and group names.
func checkTypes(s string) error {
	if err := checkNotEmpty(s); err != nil {
		return err
	}
	for _, t := range strings.Split(s, ",") {
		if err := checkType(strings.TrimSpace(t)); err != nil {
			return err
		}
	}
	return nil
}

func checkType(t string) error {
	t = strings.ToLower(t)
	if t == "" || slices.Contains(SensitiveTypes, t) || TypeGroups[t] != nil {
		return nil
	}
	return fmt.Errorf("%q is not a sensitive type; want %s, or the groups %s and %s",
		t, strings.Join(SensitiveTypes, ", "), TypeGroupCredentials, TypeGroupPersonal)
}
