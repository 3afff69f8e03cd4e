package sidecar_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stallRoleEnv makes the test binary a helper process of
// TestLiveStalledConnectionsUnderMemoryLimit (see TestMain): 50,000
// connections, each end an open file, do not fit one process's file
// limit, which root cannot raise without CAP_SYS_RESOURCE.
const (
	stallRoleEnv  = "PODTAP_TEST_STALL_ROLE" // hold or dial
	stallAddrEnv  = "PODTAP_TEST_STALL_ADDR"
	stallCountEnv = "PODTAP_TEST_STALL_COUNT"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(stallRoleEnv); role != "" {
		if err := stallHelper(role, os.Getenv(stallAddrEnv), os.Getenv(stallCountEnv)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// stallHelper holds or dials connections until its standard input closes.
// "hold" listens on addr and keeps every connection it accepts open
// without reading, as a server stuck on other work does (the kernel still
// acknowledges what clients send). "dial" opens count connections to addr,
// each sending a header block and the start of its JSON body. Each says
// "ready" on stdout when done.
func stallHelper(role, addr, count string) error {
	var conns []net.Conn
	switch role {
	case "hold":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				conns = append(conns, c)
			}
		}()
	case "dial":
		n, err := strconv.Atoi(count)
		if err != nil {
			return fmt.Errorf("%s: %w", stallCountEnv, err)
		}
		if conns, err = dialStalled(addr, n); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s: unknown role %q", stallRoleEnv, role)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

func dialStalled(addr string, n int) ([]net.Conn, error) {
	const dialers = 32
	conns := make([]net.Conn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, dialers)
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 10 * time.Second}
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := d.Dial("tcp", addr)
				if err != nil {
					errs <- fmt.Errorf("connection %d to %s: %w", i, addr, err)
					return
				}
				body := fmt.Sprintf(`{"order":%d,"items":[{"sku":"A-%d","qty":2},`, i, i)
				req := fmt.Sprintf("POST /orders HTTP/1.1\r\nHost: orders\r\nUser-Agent: stall/1\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n%s", body)
				if _, err := io.WriteString(c, req); err != nil {
					c.Close()
					errs <- fmt.Errorf("connection %d: writing: %w", i, err)
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	close(errs)
	return conns, <-errs
}

// startStallHelper starts a helper process (see stallHelper), in network
// namespace ns unless it is empty, and waits until it is ready. It ends
// when the test does.
func startStallHelper(t *testing.T, ns, role, addr string, count int) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	if ns != "" {
		cmd = exec.Command("ip", "netns", "exec", ns, self)
	}
	cmd.Env = append(os.Environ(), stallRoleEnv+"="+role, stallAddrEnv+"="+addr, stallCountEnv+"="+strconv.Itoa(count))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the %s helper: %v", role, err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		_ = cmd.Wait()
		t.Fatalf("the %s helper for %s failed: %s", role, addr, stderr.String())
	}
}
