package load

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/podtap/podtap/internal/bench/host"
	"github.com/podtap/podtap/internal/netns"
	"github.com/podtap/podtap/internal/payload"
)

// Nginx is Debian's nginx serving one static JSON document, as a new user
// would try podtap on a real web server: its bytes per request, not the
// bench's own server, are what the large-body live row is about.
type Nginx struct {
	cmd *exec.Cmd
	// pid is nginx's (the master's) process: cmd's, or its child when cmd
	// enters a PID namespace first.
	pid    int
	dir    string
	stderr bytes.Buffer
	// Path is the document's URL path.
	Path string
}

// nginxConf runs one worker as root (the bench's scratch directory is
// root's alone) in the foreground, logging every request, unbuffered, so
// that the log's lines are the exact count of responses served. Its
// arguments: the directory, the master_process line, and the server block's
// own lines.
const nginxConf = `daemon off;
%[2]suser root;
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
		root %[1]s/www;
%[3]s	}
}
`

// nginxPlainConf serves the document at its own path, without a
// master process: one process is all the plain rows measure.
func nginxPlainConf(dir, addr string) []byte {
	return fmt.Appendf(nil, nginxConf, dir, "master_process off;\n", fmt.Sprintf("\t\tlisten %s;\n", addr))
}

// nginxTLSConf serves the document over HTTPS (HTTP/1.1) at the live
// generator's paths (/api/items/N), a master and one worker as Debian runs
// it: TLS capture probes the worker's libssl.
func nginxTLSConf(dir, addr string) []byte {
	server := fmt.Sprintf("\t\tlisten %[2]s ssl;\n\t\tssl_certificate %[1]s/cert.pem;\n\t\tssl_certificate_key %[1]s/key.pem;\n\t\tlocation /api/items/ { try_files /items.json =404; }\n", dir, addr)
	return fmt.Appendf(nil, nginxConf, dir, "", server)
}

// StartNginx serves a JSON document of size bytes on addr inside ns, with
// its files under dir.
func StartNginx(ns *netns.NS, addr, dir string, size int) (*Nginx, error) {
	bin, err := nginxBinary()
	if err != nil {
		return nil, err
	}
	www := filepath.Join(dir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(www, "items.json"), payload.Order(nil, size, 1), 0o644); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, nginxPlainConf(dir, addr), 0o644); err != nil {
		return nil, err
	}
	n := &Nginx{dir: dir, Path: "/items.json"}
	n.cmd = ns.Command(bin, "-p", dir, "-c", conf)
	n.cmd.Stderr = &n.stderr
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting nginx: %w", err)
	}
	n.pid = n.cmd.Process.Pid
	if err := waitListening(addr); err != nil {
		return nil, errors.Join(fmt.Errorf("nginx did not start: %w: %s", err, n.stderr.Bytes()), n.Stop())
	}
	return n, nil
}

func nginxBinary() (string, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			return "", errors.New("the nginx rows need nginx (Debian: apt-get install nginx-light; hack/deps.sh installs it)")
		}
		bin = "/usr/sbin/nginx"
	}
	return bin, nil
}

// waitListening waits until something accepts connections on addr, which
// the host side reaches through the veth pair.
func waitListening(addr string) error {
	var err error
	for range 100 {
		var c net.Conn
		if c, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
			return c.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// Served counts the requests nginx answered so far: its access log's lines.
func (n *Nginx) Served() (int64, error) {
	b, err := os.ReadFile(filepath.Join(n.dir, "access.log"))
	if err != nil {
		return 0, fmt.Errorf("nginx's access log: %w", err)
	}
	return int64(bytes.Count(b, []byte{'\n'})), nil
}

// Stop ends nginx (SIGQUIT: finish the requests in flight) and waits.
func (n *Nginx) Stop() error {
	return host.StopPID(n.cmd, n.pid, syscall.SIGQUIT, 10*time.Second)
}
