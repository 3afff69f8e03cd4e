package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// go test ./webhook/... -update passes -update to every package under
// webhook; this one has no golden files but must accept the flag.
var _ = flag.Bool("update", false, "no effect in this package")

type keyPair struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

// issue makes a CA (parent nil) or a serving certificate signed by parent.
func issue(t *testing.T, parent *keyPair, notAfter time.Time) *keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
	}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.Subject = pkix.Name{CommonName: "test-ca"}
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		tmpl.Subject = pkix.Name{CommonName: "podtap-webhook.podtap-system.svc"}
		tmpl.DNSNames = []string{"podtap-webhook.podtap-system.svc"}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &keyPair{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
}

func TestWritePairOnlyWhenChanged(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	ca := issue(t, nil, time.Now().Add(24*time.Hour))
	a, b := issue(t, ca, time.Now().Add(time.Hour)), issue(t, ca, time.Now().Add(time.Hour))

	for _, step := range []struct {
		pair    *keyPair
		changed bool
	}{{a, true}, {a, false}, {b, true}} {
		changed, err := writePair(dir, step.pair.certPEM, step.pair.keyPEM)
		if err != nil || changed != step.changed {
			t.Fatalf("writePair: changed %v, %v; want changed %v", changed, err, step.changed)
		}
		if _, err := tls.LoadX509KeyPair(filepath.Join(dir, CertKey), filepath.Join(dir, KeyKey)); err != nil {
			t.Fatalf("the written pair does not load: %v", err)
		}
	}
	info, err := os.Stat(filepath.Join(dir, KeyKey))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		t.Fatalf("the key is readable by others: %v", perm)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestVerifyNeedsTheCAInTheBundle(t *testing.T) {
	ca, other := issue(t, nil, time.Now().Add(24*time.Hour)), issue(t, nil, time.Now().Add(24*time.Hour))
	leaf := issue(t, ca, time.Now().Add(time.Hour))
	pair, err := tls.X509KeyPair(leaf.certPEM, leaf.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(pair, ca.certPEM); err != nil {
		t.Fatalf("its own CA: %v", err)
	}
	if err := verify(pair, append(append([]byte{}, other.certPEM...), ca.certPEM...)); err != nil {
		t.Fatalf("a bundle holding old and new CA: %v", err)
	}
	if err := verify(pair, other.certPEM); err == nil {
		t.Fatal("another CA verified the certificate")
	}
	if err := verify(pair, []byte("garbage")); err == nil {
		t.Fatal("a garbage bundle verified the certificate")
	}
	expired := issue(t, ca, time.Now().Add(-time.Minute))
	pair, err = tls.X509KeyPair(expired.certPEM, expired.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(pair, ca.certPEM); err == nil {
		t.Fatal("an expired certificate verified")
	}
}

func TestFileWaiterClosesOnceThePairLoads(t *testing.T) {
	dir := t.TempDir()
	w := &fileWaiter{dir: dir, log: slog.New(slog.NewTextHandler(io.Discard, nil)), ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()

	select {
	case <-w.ready:
		t.Fatal("ready without certificate files")
	case <-time.After(1500 * time.Millisecond):
	}
	ca := issue(t, nil, time.Now().Add(time.Hour))
	leaf := issue(t, ca, time.Now().Add(time.Hour))
	if _, err := writePair(dir, leaf.certPEM, leaf.keyPEM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.ready:
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after the files appeared")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
