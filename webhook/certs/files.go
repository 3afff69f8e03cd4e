package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// writePair writes the key, then the certificate, each by rename so a
// reader never sees a half-written file. Between the two renames the pair
// does not match; certwatcher then keeps serving the previous one until the
// second rename. It reports whether anything changed.
func writePair(dir string, certPEM, keyPEM []byte) (bool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("creating %s: %w", dir, err)
	}
	changed := false
	for _, f := range []struct {
		name string
		data []byte
	}{{KeyKey, keyPEM}, {CertKey, certPEM}} {
		path := filepath.Join(dir, f.name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, f.data) {
			continue
		}
		if err := writeAtomic(path, f.data); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// fileWaiter closes ready once the mounted directory holds a usable pair
// ("files" mode); certwatcher takes over from there.
type fileWaiter struct {
	dir   string
	log   *slog.Logger
	ready chan struct{}
}

// Start polls until the pair loads or ctx ends.
func (w *fileWaiter) Start(ctx context.Context) error {
	const poll, report = time.Second, 30 * time.Second
	t := time.NewTicker(poll)
	defer t.Stop()
	var waited time.Duration
	for {
		_, err := tls.LoadX509KeyPair(filepath.Join(w.dir, CertKey), filepath.Join(w.dir, KeyKey))
		if err == nil {
			close(w.ready)
			return nil
		}
		if waited%report == 0 {
			w.log.Warn("waiting for the serving certificate files", "dir", w.dir, "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			waited += poll
		}
	}
}

// NeedLeaderElection is false: every replica serves.
func (w *fileWaiter) NeedLeaderElection() bool { return false }
