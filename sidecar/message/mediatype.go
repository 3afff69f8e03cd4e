package message

import "strings"

// MediaType returns the media type of a Content-Type value, lower-cased and
// without parameters: "Application/JSON; charset=utf-8" gives
// "application/json". Filters compare media types, never raw headers.
func MediaType(contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	// ToLower returns its argument unchanged, without allocating, when it
	// is already lower-case ASCII, which is the common case.
	return strings.ToLower(strings.Trim(mt, " \t"))
}
