package classify

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readTSV returns the rows of a testdata table, its "\n" escapes resolved.
func readTSV(t *testing.T, name string, cols int) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		row := strings.Split(line, "\t")
		if len(row) != cols {
			t.Fatalf("%s: %d columns, want %d: %q", name, len(row), cols, line)
		}
		for i := range row {
			row[i] = strings.ReplaceAll(row[i], `\n`, "\n")
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s is empty", name)
	}
	return rows
}

func key(k string) []byte {
	if k == "-" {
		return nil
	}
	return []byte(k)
}

func TestPositives(t *testing.T) {
	seen := map[Type]bool{}
	for _, row := range readTSV(t, "positives.tsv", 4) {
		want, ok := ParseType(row[0])
		if !ok {
			t.Fatalf("unknown type %q", row[0])
		}
		if got := Value(key(row[1]), []byte(row[2])); got != want {
			t.Errorf("%q (%s): %v, want %v", row[2], row[3], got, want)
		}
		seen[want] = true
	}
	pem, err := os.ReadFile(filepath.Join("testdata", "private_key_rfc8410.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if got := Value(nil, pem); got != PrivateKey {
		t.Errorf("RFC 8410 private key: %v", got)
	}
	for tp := Email; tp < numTypes; tp++ {
		if !seen[tp] && tp != PrivateKey {
			t.Errorf("no positive example of %v", tp)
		}
	}
}

func TestNearMisses(t *testing.T) {
	for _, row := range readTSV(t, "near_misses.tsv", 3) {
		if got := Value(key(row[0]), []byte(row[1])); got != None {
			t.Errorf("%q (%s) tagged %v", row[1], row[2], got)
		}
	}
}

// TestPrivateKeys checks keys of every PEM form Go writes, freshly made.
func TestPrivateKeys(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(edKey)
	for _, b := range []*pem.Block{
		{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)},
		{Type: "EC PRIVATE KEY", Bytes: ecDER},
		{Type: "PRIVATE KEY", Bytes: pkcs8},
	} {
		v := pem.EncodeToMemory(b)
		if got := Value(nil, v); got != PrivateKey {
			t.Errorf("%s: %v", b.Type, got)
		}
		// Cut short, the block no longer decodes.
		if got := Value(nil, v[:len(v)-30]); got != None {
			t.Errorf("%s cut short: %v", b.Type, got)
		}
	}
	pub, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if got := Value(nil, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})); got != None {
		t.Errorf("public key tagged %v", got)
	}
}

// corpusStrings returns every string value of the corpus with its key.
func corpusStrings(t *testing.T) (keys, values []string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.json"))
	if len(files) == 0 {
		t.Fatal("no corpus")
	}
	var walk func(k string, v any)
	walk = func(k string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k2, v2 := range v {
				walk(k2, v2)
			}
		case []any:
			for _, v2 := range v {
				walk("", v2)
			}
		case string:
			keys, values = append(keys, k), append(values, v)
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		walk("", doc)
	}
	return keys, values
}

// TestFalsePositiveCorpus runs every string of ordinary API JSON through
// the classifier: nothing may be tagged. The corpus is also checked by
// record's tests through the body scanner.
func TestFalsePositiveCorpus(t *testing.T) {
	keys, values := corpusStrings(t)
	tagged := 0
	for i, v := range values {
		if got := Value([]byte(keys[i]), []byte(v)); got != None {
			tagged++
			t.Errorf("%s: %q tagged %v", keys[i], v, got)
		}
	}
	t.Logf("%d strings, %d tagged", len(values), tagged)
}

// TestNeedsAtOrColon checks the scanners' early reject: the accepted
// positives that need an '@' or a ':' hold one, and short values that
// start with a letter need one whatever their other bytes.
func TestNeedsAtOrColon(t *testing.T) {
	for _, row := range readTSV(t, "positives.tsv", 4) {
		if v := []byte(row[2]); NeedsAtOrColon(v) && !bytes.ContainsAny(v, "@:") {
			t.Errorf("%q (%s): needs an '@' or a ':' but has none", v, row[0])
		}
	}
	for n := minLen; n <= 20; n++ {
		v := bytes.Repeat([]byte("k"), n)
		if got, want := NeedsAtOrColon(v), n < shortLetters; got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
	for _, v := range []string{"1234567", "-abcdef", "+abcdef", "(abcdef", ":abcdef"} {
		if NeedsAtOrColon([]byte(v)) {
			t.Errorf("%q: needs an '@' or a ':'", v)
		}
	}
}

func TestTypeNames(t *testing.T) {
	for tp := Email; tp < numTypes; tp++ {
		back, ok := ParseType(tp.String())
		if !ok || back != tp {
			t.Errorf("%d: %q does not parse back", tp, tp.String())
		}
	}
	s := SetOf(map[string]bool{"card": true, "jwt": true, "nonsense": true})
	if !s.Has(Card) || !s.Has(JWT) || s.Has(Email) || s.Has(None) {
		t.Errorf("SetOf: %b", s)
	}
}

func FuzzValue(f *testing.F) {
	for _, s := range []string{"4242424242424242", "DE89370400440532013000", "user@example.com", "eyJhbGciOiJub25lIn0.e30.", "-----BEGIN PRIVATE KEY-----\n", "+44 20 7946 0958", "2001:db8::1", "Bearer abc123def456"} {
		f.Add([]byte("dob"), []byte(s))
	}
	f.Fuzz(func(t *testing.T, k, v []byte) {
		got := Value(k, v)
		if got >= numTypes || (got != None && !MayMatch(v)) {
			t.Fatalf("%q: %v", v, got)
		}
		if got != None && NeedsAtOrColon(v) && !bytes.ContainsAny(v, "@:") {
			t.Fatalf("%q: %v without the '@' or ':' it needs", v, got)
		}
	})
}
