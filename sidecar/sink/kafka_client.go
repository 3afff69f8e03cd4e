package sink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/podtap/podtap/config"
)

// dialTimeout bounds one connection attempt, so an address that swallows
// packets shows up as an error in readiness within seconds, not a hang.
const dialTimeout = 5 * time.Second

// clientOpts are the options the producer and the consumer share: brokers,
// client id, TLS and SASL. A setting that can never work fails here, with
// its key. Files (CA, client certificate, SASL secrets) are read at every
// connection instead: in Kubernetes they come from Secrets that may appear
// after the pod starts or be rotated, and a sidecar that exited for a
// missing file would hold the application's pod back. Until they can be
// read, dials fail and readiness says why, while pairs are kept.
func clientOpts(cfg config.Kafka, log *slog.Logger) ([]kgo.Opt, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka.brokers: empty; want host:port, comma separated")
	}
	for _, b := range cfg.Brokers {
		if err := checkBroker(b); err != nil {
			return nil, err
		}
	}
	if cfg.ClientID == "" {
		return nil, errors.New("kafka.client_id: empty; want the name the brokers log for the producer, default podtap-sidecar")
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.DialTimeout(dialTimeout),
		kgo.WithLogger(kgoLogger{log}),
	}
	if cfg.TLS.Enabled {
		if (cfg.TLS.CertFile == "") != (cfg.TLS.KeyFile == "") {
			return nil, errors.New("kafka.tls.cert_file and kafka.tls.key_file: set both or neither")
		}
		opts = append(opts, kgo.Dialer(tlsDialer(cfg.TLS)))
	}
	if cfg.SASL.Mechanism != "" {
		m, err := saslMechanism(cfg.SASL)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

func checkBroker(b string) error {
	host, port, err := net.SplitHostPort(b)
	if err != nil {
		return fmt.Errorf("kafka.brokers: %q is not host:port: %w", b, err)
	}
	if host == "" {
		return fmt.Errorf("kafka.brokers: %q has no host", b)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("kafka.brokers: %q has no valid port (1-65535)", b)
	}
	return nil
}

// tlsDialer dials TLS with the files as they are now.
func tlsDialer(c config.KafkaTLS) func(ctx context.Context, network, host string) (net.Conn, error) {
	return func(ctx context.Context, network, host string) (net.Conn, error) {
		tc, err := tlsConfig(c)
		if err != nil {
			return nil, err
		}
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(host)
		}
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: dialTimeout}, Config: tc}
		return d.DialContext(ctx, network, host)
	}
}

func tlsConfig(c config.KafkaTLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca_file: %s holds no PEM certificate", c.CAFile)
		}
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// saslMechanism builds the mechanism with credentials read at every
// authentication, so a rotated Secret volume is picked up on reconnect.
// Credentials never reach a log or an error message.
func saslMechanism(c config.KafkaSASL) (sasl.Mechanism, error) {
	if c.Username == "" && c.UsernameFile == "" {
		return nil, errors.New("kafka.sasl.username: empty; set it or kafka.sasl.username_file")
	}
	if c.Password == "" && c.PasswordFile == "" {
		return nil, errors.New("kafka.sasl.password: empty; set it or kafka.sasl.password_file")
	}
	user := secret("kafka.sasl.username", c.Username, c.UsernameFile)
	pass := secret("kafka.sasl.password", c.Password, c.PasswordFile)
	creds := func() (string, string, error) {
		u, err := user()
		if err != nil {
			return "", "", err
		}
		p, err := pass()
		return u, p, err
	}
	switch c.Mechanism {
	case "PLAIN":
		return plain.Plain(func(context.Context) (plain.Auth, error) {
			u, p, err := creds()
			return plain.Auth{User: u, Pass: p}, err
		}), nil
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		fn := func(context.Context) (scram.Auth, error) {
			u, p, err := creds()
			return scram.Auth{User: u, Pass: p}, err
		}
		if c.Mechanism == "SCRAM-SHA-256" {
			return scram.Sha256(fn), nil
		}
		return scram.Sha512(fn), nil
	}
	return nil, fmt.Errorf(`kafka.sasl.mechanism: %q is not accepted; want "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512"`, c.Mechanism)
}

// secret returns a reader of a credential given inline (from the config
// file or PODTAP_* env) or in a file; the file wins. A trailing newline,
// as editors and `kubectl create secret --from-file` leave it, is dropped.
func secret(key, value, file string) func() (string, error) {
	return func() (string, error) {
		if file != "" {
			b, err := os.ReadFile(file)
			if err != nil {
				return "", fmt.Errorf("%s_file: %w", key, err)
			}
			v := strings.TrimRight(string(b), "\r\n")
			if v == "" {
				return "", fmt.Errorf("%s_file: %s is empty", key, file)
			}
			return v, nil
		}
		if value == "" {
			return "", fmt.Errorf("%s: empty; set it or %s_file", key, key)
		}
		return value, nil
	}
}

// kgoLogger passes franz-go's warnings and errors to slog at one level
// lower: the sink reports Kafka's state itself, so the client's own view
// (every failed dial during an outage) is detail.
type kgoLogger struct{ log *slog.Logger }

func (l kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelDebug
	if level == kgo.LogLevelError {
		lv = slog.LevelWarn
	}
	l.log.Log(context.Background(), lv, "kafka client: "+msg, keyvals...)
}
