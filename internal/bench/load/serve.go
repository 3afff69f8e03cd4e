package load

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podtap/podtap/internal/bench/host"
	"github.com/podtap/podtap/internal/netns"
)

// ServeCmd is the hidden command that runs the app server as a process of
// its own, inside the live scenarios' network namespace, so that its CPU
// and its requests per second are its own.
const ServeCmd = "serve"

// ServeChild is the ServeCmd process: it serves on --addr until SIGTERM.
func ServeChild(args []string) error {
	fs := flag.NewFlagSet(ServeCmd, flag.ContinueOnError)
	addr := fs.String("addr", "", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := host.RaiseFileLimit(); err != nil {
		return err
	}
	// Several servers may share the address (SO_REUSEPORT), the kernel
	// spreading connections over them, where one process's open-file
	// limit cannot hold a scenario's connections.
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	// The parent reads the address, which matters when the port was 0.
	fmt.Println(ln.Addr())
	srv := NewAppServer()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	return srv.Serve(ln)
}

// StartServer starts the app server process on addr, inside ns when it is
// set, and returns it with the address it listens on.
func StartServer(ctx context.Context, ns *netns.NS, addr string) (*exec.Cmd, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	var cmd *exec.Cmd
	if ns != nil {
		cmd = ns.Command(self, ServeCmd, "--addr", addr)
	} else {
		cmd = exec.CommandContext(ctx, self, ServeCmd, "--addr", addr)
	}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("starting the server: %w", err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, "", fmt.Errorf("the server did not start: %w", err)
	}
	return cmd, strings.TrimSpace(line), nil
}

// StopServer ends the server and waits for it.
func StopServer(cmd *exec.Cmd) error {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("the server: %w", err)
	}
	return nil
}
