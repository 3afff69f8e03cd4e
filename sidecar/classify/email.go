package classify

import "bytes"

// isEmail accepts an address of RFC 5321's dot-atom form, local@domain,
// whose domain is a host name of two labels or more ending in an
// alphabetic top-level label. Quoted local parts and address literals
// (user@[10.0.0.1]) are not accepted, nor file names of the shape
// icon@2x.png, whose last label is a file extension.
func isEmail(v []byte) bool {
	at := bytes.IndexByte(v, '@')
	if at < 1 || at > 64 || len(v)-at-1 > 253 {
		return false
	}
	local, domain := v[:at], v[at+1:]
	if !dotAtom(local, atext) || !dotAtom(domain, hostByte) {
		return false
	}
	labels := 0
	for label := range bytes.SplitSeq(domain, []byte{'.'}) {
		if len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		labels++
	}
	tld := domain[bytes.LastIndexByte(domain, '.')+1:]
	return labels >= 2 && len(tld) >= 2 && allOf(tld, isLetter) && !fileExtensions[string(bytes.ToLower(tld))]
}

// dotAtom reports whether v is runs of bytes that pass ok joined by single
// dots, with no dot at either end.
func dotAtom(v []byte, ok func(byte) bool) bool {
	if len(v) == 0 || v[0] == '.' || v[len(v)-1] == '.' {
		return false
	}
	for i, b := range v {
		if b == '.' {
			if v[i-1] == '.' {
				return false
			}
		} else if !ok(b) {
			return false
		}
	}
	return true
}

func isLetter(b byte) bool { return (b|0x20)-'a' < 26 }

// atext is RFC 5322's atext, the bytes of a local part between dots.
func atext(b byte) bool {
	return isAlnum(b) || bytes.IndexByte([]byte("!#$%&'*+/=?^_`{|}~-"), b) >= 0
}

func hostByte(b byte) bool { return isAlnum(b) || b == '-' }

// fileExtensions are last labels of names like icon@2x.png, which are
// not top-level domains.
var fileExtensions = map[string]bool{
	"png": true, "jpg": true, "jpeg": true, "gif": true, "svg": true, "webp": true,
	"avif": true, "ico": true, "bmp": true, "tif": true, "tiff": true, "js": true,
	"css": true, "map": true, "json": true, "html": true, "htm": true, "txt": true,
	"pdf": true, "woff": true, "woff2": true, "ttf": true, "mp4": true, "webm": true,
}
