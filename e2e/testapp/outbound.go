package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// outbound stands for a mesh proxy's outbound listener: the pod's iptables
// redirect sends the other containers' connections here, and each is
// relayed to the destination it was dialled to (SO_ORIGINAL_DST).
//
// POST /hold on the control address makes it hold what the pod sends
// until the container whose port is --release-when-closed stops
// listening, as podtap does on SIGTERM. What was sent before the pod's
// deletion therefore reaches its destination only through this proxy
// during the shutdown, and only while the proxy still runs. On SIGTERM the
// proxy closes every connection at once, dropping what it holds.
func outbound(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("outbound", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:15001", "address the iptables redirect sends outbound TCP to")
	control := fs.String("control", ":15020", "address of POST /hold and GET /held")
	releaseAddr := fs.String("release-when-closed", "127.0.0.1:17339", "a hold ends when this address refuses connections")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	p := &outboundProxy{released: make(chan struct{}), conns: map[net.Conn]struct{}{}, releaseAddr: *releaseAddr}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hold", p.handleHold)
	mux.HandleFunc("GET /held", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, p.heldBytes.Load())
	})
	srv := &http.Server{Addr: *control, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			slog.Error("control", "err", err)
		}
	}()
	slog.Info("relaying outbound", "listen", ln.Addr().String(), "control", *control)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.relay(ctx, c)
		}
	}()
	<-ctx.Done()
	_ = ln.Close()
	_ = srv.Close()
	held := p.closeAll()
	slog.Info("stopped", "held", p.holding.Load(), "bytes_dropped", held)
	return nil
}

type outboundProxy struct {
	releaseAddr string
	holding     atomic.Bool
	released    chan struct{}
	heldBytes   atomic.Int64
	// pending is what is held now, not yet written on.
	pending atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (p *outboundProxy) handleHold(w http.ResponseWriter, _ *http.Request) {
	c, err := net.DialTimeout("tcp", p.releaseAddr, time.Second)
	if err != nil {
		http.Error(w, fmt.Sprintf("%s is not listening, nothing would release the hold: %v", p.releaseAddr, err), http.StatusConflict)
		return
	}
	_ = c.Close()
	if !p.holding.CompareAndSwap(false, true) {
		http.Error(w, "already holding", http.StatusConflict)
		return
	}
	start := time.Now()
	go func() {
		for {
			time.Sleep(50 * time.Millisecond)
			c, err := net.DialTimeout("tcp", p.releaseAddr, time.Second)
			if err != nil {
				slog.Info("released", "after", time.Since(start), "bytes", p.heldBytes.Load(), "because", err.Error())
				close(p.released)
				return
			}
			_ = c.Close()
		}
	}()
	slog.Info("holding", "until_closed", p.releaseAddr)
	w.WriteHeader(http.StatusNoContent)
}

func (p *outboundProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// closeAll closes every connection and returns the bytes still held.
func (p *outboundProxy) closeAll() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	return p.pending.Load()
}

func (p *outboundProxy) relay(ctx context.Context, down net.Conn) {
	defer down.Close()
	if !p.track(down) {
		return
	}
	dst, err := originalDst(down.(*net.TCPConn))
	if err != nil {
		slog.Error("original destination", "err", err)
		return
	}
	up, err := net.Dial("tcp", dst)
	if err != nil {
		slog.Error("dialing the original destination", "dst", dst, "err", err)
		return
	}
	defer up.Close()
	if !p.track(up) {
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		p.copyHeld(ctx, up, down)
		_ = up.(*net.TCPConn).CloseWrite()
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(down, up)
		_ = down.(*net.TCPConn).CloseWrite()
		done <- struct{}{}
	}()
	<-done
	<-done
}

// copyHeld copies src to dst, waiting for the release before each write
// while a hold is on.
func (p *outboundProxy) copyHeld(ctx context.Context, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if p.holding.Load() {
				p.heldBytes.Add(int64(n))
				p.pending.Add(int64(n))
				select {
				case <-p.released:
				case <-ctx.Done():
					return
				}
				p.pending.Add(-int64(n))
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// originalDst is where the connection was dialled before the redirect.
func originalDst(c *net.TCPConn) (string, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return "", err
	}
	var addr *unix.IPv6Mreq
	var serr error
	if err := raw.Control(func(fd uintptr) {
		// SO_ORIGINAL_DST returns a sockaddr_in, which fits the 20 bytes
		// of this getsockopt's struct.
		addr, serr = unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, unix.SO_ORIGINAL_DST)
	}); err != nil {
		return "", err
	}
	if serr != nil {
		return "", fmt.Errorf("SO_ORIGINAL_DST: %w", serr)
	}
	b := addr.Multiaddr
	ip := net.IPv4(b[4], b[5], b[6], b[7])
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(b[2])<<8|int(b[3]))), nil
}
