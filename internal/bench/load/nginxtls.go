package load

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/podtap/podtap/internal/payload"
)

// StartNginxTLS serves a JSON document of size bytes over HTTPS on addr
// with cert, its files under dir. start runs the command where the pod is
// and returns the PID of nginx itself (the bench enters the pod's PID
// namespace through nsenter, whose child nginx is).
func StartNginxTLS(start func(*exec.Cmd) (int, error), command func(name string, args ...string) *exec.Cmd, addr, dir string, size int, cert *ServerCert) (*Nginx, error) {
	bin, err := nginxBinary()
	if err != nil {
		return nil, err
	}
	www := filepath.Join(dir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		return nil, err
	}
	files := map[string][]byte{
		filepath.Join(www, "items.json"): payload.Order(nil, size, 1),
		filepath.Join(dir, "cert.pem"):   cert.CertPEM,
		filepath.Join(dir, "key.pem"):    cert.KeyPEM,
		filepath.Join(dir, "nginx.conf"): nginxTLSConf(dir, addr),
	}
	for name, b := range files {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			return nil, err
		}
	}
	n := &Nginx{dir: dir, Path: "/api/items/1"}
	n.cmd = command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	n.cmd.Stderr = &n.stderr
	if n.pid, err = start(n.cmd); err != nil {
		return nil, fmt.Errorf("starting nginx: %w", err)
	}
	if err := waitListening(addr); err != nil {
		return nil, errors.Join(fmt.Errorf("nginx did not start: %w: %s", err, n.stderr.Bytes()), n.Stop())
	}
	return n, nil
}

// PID is nginx's master process, whose children are its workers.
func (n *Nginx) PID() int { return n.pid }
