package sink

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/podtap/podtap/config"
)

// testPKI is a CA with a broker certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type testPKI struct {
	caFile, certFile, keyFile string
	server                    *tls.Config
}

func newPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "podtap test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) (tls.Certificate, []byte, []byte) {
		key := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
			KeyUsage: x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return pair, certPEM, keyPEM
	}
	serverPair, _, _ := issue(2, "broker", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	_, clientCert, clientKey := issue(3, "podtap-sidecar", x509.ExtKeyUsageClientAuth, nil)
	p := testPKI{
		caFile:   filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "client.pem"),
		keyFile:  filepath.Join(dir, "client-key.pem"),
	}
	for path, b := range map[string][]byte{
		p.caFile:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		p.certFile: clientCert,
		p.keyFile:  clientKey,
	} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	p.server = &tls.Config{
		Certificates: []tls.Certificate{serverPair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}
	return p
}

func writeSecret(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(s+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKafkaTLSAndSASL(t *testing.T) {
	pki := newPKI(t)
	c := newCluster(t,
		kfake.SeedTopics(1, testTopic),
		kfake.TLS(pki.server),
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plain-user", "plain-pass"),
		kfake.Superuser("SCRAM-SHA-256", "scram256-user", "scram256-pass"),
		kfake.Superuser("SCRAM-SHA-512", "scram512-user", "scram512-pass"),
	)
	tlsCfg := config.KafkaTLS{Enabled: true, CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile}
	sent := 0
	for _, tc := range []struct {
		mech, user, pass string
		fromFile         bool
	}{
		{"PLAIN", "plain-user", "plain-pass", false},
		{"SCRAM-SHA-256", "scram256-user", "scram256-pass", true},
		{"SCRAM-SHA-512", "scram512-user", "scram512-pass", true},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			cfg := kafkaConfig(c.ListenAddrs(), "")
			cfg.TLS = tlsCfg
			cfg.SASL = config.KafkaSASL{Mechanism: tc.mech, Username: tc.user, Password: tc.pass}
			if tc.fromFile {
				cfg.SASL = config.KafkaSASL{Mechanism: tc.mech, UsernameFile: writeSecret(t, tc.user), PasswordFile: writeSecret(t, tc.pass)}
			}
			k := startSink(t, cfg, testPod)
			waitReady(t, k, 10*time.Second)
			for i := range 20 {
				k.Write(Record{Value: pairValue(tc.mech, i), Protocol: "http/1.1"})
			}
			closeSink(t, k, 10*time.Second)
			sent += 20
			got := consume(t, cfg, sent, 10*time.Second)
			for i, r := range got[sent-20:] {
				if !bytes.Equal(r.Value, pairValue(tc.mech, i)) {
					t.Fatalf("record %d differs", i)
				}
			}
		})
	}

	t.Run("bad password", func(t *testing.T) {
		cfg := kafkaConfig(c.ListenAddrs(), t.TempDir())
		cfg.TLS = tlsCfg
		cfg.SASL = config.KafkaSASL{Mechanism: "SCRAM-SHA-256", Username: "scram256-user", Password: "not-the-password"}
		start := time.Now()
		k := startSink(t, cfg, testPod)
		if time.Since(start) > time.Second {
			t.Fatalf("NewKafka took %s", time.Since(start))
		}
		err := eventually(t, 10*time.Second, func() error {
			if err := k.Ready(); err != nil && strings.Contains(strings.ToLower(err.Error()), "authentication") {
				return nil
			}
			return errNotYet
		})
		if err != nil {
			t.Fatalf("readiness never reported the failed authentication: %v", k.Ready())
		}
		if strings.Contains(k.Ready().Error(), "not-the-password") {
			t.Fatal("readiness leaks the password")
		}
		t.Logf("readiness: %v", k.Ready())
		// Records are kept in the spool, not lost, while credentials are wrong.
		before := drops()
		for i := range 10 {
			k.Write(Record{Value: pairValue("bad", i), Protocol: "http/1.1"})
		}
		closeSink(t, k, 5*time.Second)
		if d := dropDelta(before); len(d) != 0 {
			t.Fatalf("drops %v", d)
		}
	})

	t.Run("no client certificate", func(t *testing.T) {
		cfg := kafkaConfig(c.ListenAddrs(), "")
		cfg.TLS = config.KafkaTLS{Enabled: true, CAFile: pki.caFile}
		cfg.SASL = config.KafkaSASL{Mechanism: "PLAIN", Username: "plain-user", Password: "plain-pass"}
		k := startSink(t, cfg, testPod)
		if eventually(t, 10*time.Second, func() error {
			if k.Ready() != nil && strings.Contains(k.Ready().Error(), "no broker answers") {
				return nil
			}
			return errNotYet
		}) != nil {
			t.Fatalf("readiness %v", k.Ready())
		}
	})

	// A Secret that is not there yet must not stop the sidecar: the pod's
	// application would wait for it. Readiness names the file instead.
	t.Run("missing files are a readiness problem", func(t *testing.T) {
		for name, mutate := range map[string]func(*config.Kafka){
			"kafka.tls.ca_file": func(c *config.Kafka) { c.TLS = config.KafkaTLS{Enabled: true, CAFile: "/nonexistent/ca.pem"} },
			"kafka.sasl.password_file": func(c *config.Kafka) {
				c.TLS = tlsCfg
				c.SASL = config.KafkaSASL{Mechanism: "PLAIN", Username: "u", PasswordFile: "/nonexistent/pass"}
			},
		} {
			cfg := kafkaConfig(c.ListenAddrs(), "")
			mutate(&cfg)
			k := startSink(t, cfg, testPod)
			if eventually(t, 10*time.Second, func() error {
				if err := k.Ready(); err != nil && strings.Contains(err.Error(), name) {
					return nil
				}
				return errNotYet
			}) != nil {
				t.Fatalf("%s: readiness %v does not name the file's key", name, k.Ready())
			}
		}
	})

	t.Run("config errors at start", func(t *testing.T) {
		for name, mutate := range map[string]func(*config.Kafka){
			"kafka.tls.cert_file": func(c *config.Kafka) { c.TLS = config.KafkaTLS{Enabled: true, CertFile: pki.certFile} },
			"kafka.sasl.username": func(c *config.Kafka) { c.SASL = config.KafkaSASL{Mechanism: "PLAIN", Password: "p"} },
			"kafka.sasl.mechanism": func(c *config.Kafka) {
				c.SASL = config.KafkaSASL{Mechanism: "GSSAPI", Username: "u", Password: "p"}
			},
			"kafka.compression": func(c *config.Kafka) { c.Compression = "brotli" },
			"kafka.queue_bytes": func(c *config.Kafka) { c.QueueBytes = c.MaxRecordBytes - 1 },
			"kafka.spool":       func(c *config.Kafka) { c.Spool.Dir, c.Spool.MaxBytes = t.TempDir(), 1024 },
		} {
			cfg := kafkaConfig(c.ListenAddrs(), "")
			mutate(&cfg)
			k, err := NewKafka(cfg, testPod, testLog)
			if err == nil {
				k.Close(t.Context())
				t.Fatalf("%s: accepted", name)
			}
			if !strings.Contains(err.Error(), name) {
				t.Fatalf("%s: error %q does not name the key", name, err)
			}
		}
	})
}
