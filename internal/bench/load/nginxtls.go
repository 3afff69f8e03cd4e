package load

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/podtap/podtap/internal/payload"
)

// nginxTLSConf serves the bench's JSON document over HTTPS (HTTP/1.1) at
// the live generator's paths (/api/items/N), a master and one worker as
// Debian runs it, every request logged unbuffered so that the log's lines
// are the exact count of responses served.
const nginxTLSConf = `daemon off;
user root;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
	types { application/json json; }
	access_log %[1]s/access.log;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	keepalive_requests 1000000;
	server {
		listen %[2]s ssl;
		ssl_certificate %[1]s/cert.pem;
		ssl_certificate_key %[1]s/key.pem;
		root %[1]s/www;
		location /api/items/ { try_files /items.json =404; }
	}
}
`

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
		filepath.Join(dir, "nginx.conf"): fmt.Appendf(nil, nginxTLSConf, dir, addr),
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
