package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/podtap/podtap/internal/netns"
)

// nginxConf is what every test's nginx shares: one worker in the
// foreground without a master (a master's workers would outlive the
// test's kill), every file under the test's directory, no access log.
// The test's own directives go inside http.
const nginxConf = `daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path %[1]s;
	proxy_temp_path %[1]s;
	fastcgi_temp_path %[1]s;
	uwsgi_temp_path %[1]s;
	scgi_temp_path %[1]s;
%[2]s
}
`

// StartNginx runs Debian's nginx in pod's network namespace with http
// (server blocks and directives of the http context) until the test ends,
// and returns once addr accepts connections. Without nginx the test skips
// (fails on CI).
func StartNginx(t testing.TB, pod *netns.Pod, http, addr string) {
	t.Helper()
	nginx := RequireTool(t, "nginx")
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, dir, http)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", pod.Name, nginx, "-c", conf, "-p", dir)
	if err := cmd.Start(); err != nil {
		t.Fatalf("nginx: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx does not answer on %s: %v\n%s", addr, err, log)
		}
	}
}
