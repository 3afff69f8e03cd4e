package grpc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	ggrpc "google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/podtap/podtap/internal/grpcdemo"
)

// TestReflectionOverTLS asks a grpc-go server with TLS credentials (a
// self-signed certificate for a service name, as a pod's server has) for
// its schema: dialed with TLS it answers when the address is the pod's own,
// whose certificate is not verified; for any other address the certificate
// is verified and refused; dialed in plaintext it does not answer.
func TestReflectionOverTLS(t *testing.T) {
	d := startDemo(t, grpcdemo.ServerOptions{ReflectionV1: true, GRPC: []ggrpc.ServerOption{ggrpc.Creds(credentials.NewServerTLSFromCert(selfSigned(t, "greeter.shop.svc")))}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	s, err := reflectSchema(ctx, target{addr: d.addr, tls: true, own: true}, grpcdemo.Service)
	if err != nil || s == nil {
		t.Fatalf("own server over TLS: %v", err)
	}
	if _, err := reflectCatalog(ctx, target{addr: d.addr, tls: true, own: true}); err != nil {
		t.Fatalf("own server's catalog over TLS: %v", err)
	}
	_, err = reflectSchema(ctx, target{addr: d.addr, tls: true}, grpcdemo.Service)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("another server with a self-signed certificate: %v, want it refused for its certificate", err)
	}
	if _, err := reflectSchema(ctx, target{addr: d.addr, own: true}, grpcdemo.Service); err == nil {
		t.Error("a TLS server answered reflection dialed in plaintext")
	}
}

// selfSigned makes a certificate for name, valid for an hour.
func selfSigned(t *testing.T, name string) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
