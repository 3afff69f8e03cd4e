package load

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podtap/podtap/internal/bench/host"
)

// HoldCmd is the hidden command that holds idle keep-alive connections as
// a process of its own: one process may keep only as many connections as
// its open-file limit allows, so the idle scenario's many are spread over
// several holders.
const HoldCmd = "hold"

// HoldChild is the HoldCmd process: it opens --conns connections to --addr
// from the --from addresses in turn at --rate a second, makes one exchange
// on each, says "ready" on stdout, and holds them until its stdin closes.
func HoldChild(args []string) error {
	fs := flag.NewFlagSet(HoldCmd, flag.ContinueOnError)
	addr := fs.String("addr", "", "server address")
	from := fs.String("from", "", "comma-separated client addresses")
	conns := fs.Int("conns", 0, "connections to hold")
	first := fs.Int("first", 0, "number of the first connection, for its request path")
	rate := fs.Float64("rate", 1000, "connections opened a second")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := host.RaiseFileLimit(); err != nil {
		return err
	}
	var clients []net.IP
	for s := range strings.SplitSeq(*from, ",") {
		ip := net.ParseIP(s)
		if ip == nil {
			return fmt.Errorf("--from: %q is not an address", s)
		}
		clients = append(clients, ip)
	}
	held, err := openIdle(context.Background(), *addr, clients, *first, *conns, *rate)
	defer resetAll(held)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// Holders are the processes holding a scenario's idle connections.
type Holders struct{ procs []*holder }

type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// Hold opens n idle connections to addr, each having made one exchange,
// from the client addresses in turn, perProc at most in each holder
// process, at rate a second in all; it returns once all are open.
func Hold(ctx context.Context, addr string, clients []net.IP, n, perProc int, rate float64) (*Holders, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	from := make([]string, len(clients))
	for i, ip := range clients {
		from[i] = ip.String()
	}
	k := max((n+perProc-1)/perProc, 1)
	h := &Holders{}
	ready := make(chan error, k)
	for i := range k {
		lo, hi := n*i/k, n*(i+1)/k
		cmd := exec.CommandContext(ctx, self, HoldCmd, "--addr", addr, "--from", strings.Join(from, ","),
			"--conns", strconv.Itoa(hi-lo), "--first", strconv.Itoa(lo), "--rate", strconv.FormatFloat(rate/float64(k), 'f', -1, 64))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			h.kill()
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			h.kill()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			h.kill()
			return nil, fmt.Errorf("starting a holder of idle connections: %w", err)
		}
		h.procs = append(h.procs, &holder{cmd: cmd, stdin: stdin})
		go func() {
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err == nil && strings.TrimSpace(line) != "ready" {
				err = fmt.Errorf("said %q", line)
			}
			if err != nil {
				err = fmt.Errorf("a holder of idle connections failed: %w", err)
			}
			ready <- err
		}()
	}
	var errs []error
	for range k {
		errs = append(errs, <-ready)
	}
	if err := errors.Join(errs...); err != nil {
		h.kill()
		return nil, err
	}
	return h, nil
}

// kill ends holders that failed, or whose siblings did, without waiting
// for them to open the rest of their connections.
func (h *Holders) kill() {
	for _, p := range h.procs {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
	h.procs = nil
}

// Close lets the holders reset their connections and waits for them.
func (h *Holders) Close() error {
	for _, p := range h.procs {
		_ = p.stdin.Close()
	}
	var errs []error
	for _, p := range h.procs {
		if err := p.cmd.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("a holder of idle connections: %w", err))
		}
	}
	h.procs = nil
	return errors.Join(errs...)
}

// openIdle opens n connections to addr at rate a second, from the client
// addresses in turn, makes one exchange on each, and leaves them open.
// first numbers the first one.
func openIdle(ctx context.Context, addr string, clients []net.IP, first, n int, rate float64) ([]net.Conn, error) {
	const workers = 64
	var mu sync.Mutex
	out := make([]net.Conn, 0, n)
	start := time.Now()
	err := Parallel(ctx, workers, func(ctx context.Context, w int) error {
		for i := w; i < n; i += workers {
			if wait := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); wait > 0 {
				time.Sleep(wait)
			}
			id := first + i
			c, err := dialIdle(ctx, clients[id%len(clients)], addr)
			if err != nil {
				return fmt.Errorf("idle connection %d: %w", id, err)
			}
			mu.Lock()
			out = append(out, c)
			mu.Unlock()
			if err := oneExchange(c, addr, id); err != nil {
				return fmt.Errorf("idle connection %d: %w", id, err)
			}
		}
		return nil
	})
	return out, err
}

// dialIdle connects from client to addr. A connection whose SYNs all went
// unanswered is tried again with a new socket, a few times: once in a
// full run, one of 100,000 did (the kernel gave up after two minutes),
// which says nothing of the sidecar, which only watches.
func dialIdle(ctx context.Context, client net.IP, addr string) (net.Conn, error) {
	const attempts = 3
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: client}, Control: bindNoPort, Timeout: 10 * time.Second}
	var err error
	for range attempts {
		var c net.Conn
		if c, err = d.DialContext(ctx, "tcp", addr); err == nil {
			return c, nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || ctx.Err() != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%d attempts: %w", attempts, err)
}

// bindNoPort defers the choice of a connection's local port from bind to
// connect (IP_BIND_ADDRESS_NO_PORT), where the kernel picks one unique for
// the four-tuple: bound first, every connection from an address would take
// a port of its own, and bind would run out of them before the range.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); err != nil {
		return err
	}
	return serr
}

// oneExchange sends a GET on c and reads the whole response, leaving the
// connection open (keep-alive).
func oneExchange(c net.Conn, addr string, i int) error {
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(c, "GET /api/items/%d?size=256 HTTP/1.1\r\nHost: %s\r\n\r\n", i, addr); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	if err := ReadOK(resp); err != nil {
		return err
	}
	return c.SetDeadline(time.Time{})
}

// resetAll resets conns rather than closing them: 100,000 client sockets
// in TIME_WAIT would hold their ports past the step, and the next step's
// or run's would collide with them.
func resetAll(conns []net.Conn) {
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}
