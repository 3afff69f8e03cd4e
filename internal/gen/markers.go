package main

import (
	"bytes"
	"fmt"
)

// replaceBetween puts body between the markers of section name:
// <!-- BEGIN generated: name --> and <!-- END generated: name -->.
func replaceBetween(doc []byte, name, body string) ([]byte, error) {
	begin := []byte("<!-- BEGIN generated: " + name + " -->\n")
	end := []byte("<!-- END generated: " + name + " -->")
	i := bytes.Index(doc, begin)
	j := bytes.Index(doc, end)
	if i < 0 || j < i {
		return nil, fmt.Errorf("no markers %q ... %q", bytes.TrimSpace(begin), end)
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(begin)])
	out.WriteString(body)
	out.Write(doc[j:])
	return out.Bytes(), nil
}
