package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadyzChecksAndExclude(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sinkDown := errors.New("kafka: no broker answers")
	var sinkChecks atomic.Int32
	err = Serve(ctx, addr,
		Check{Name: "capture", Fn: func() error { return nil }},
		Check{Name: "sink", Fn: func() error { sinkChecks.Add(1); return sinkDown }})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		t.Helper()
		var resp *http.Response
		for deadline := time.Now().Add(5 * time.Second); ; {
			if resp, err = http.Get("http://" + addr + path); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "[-]sink failed: kafka: no broker answers") || !strings.Contains(body, "[+]capture ok") {
		t.Errorf("/readyz = %d %q", code, body)
	}
	checked := sinkChecks.Load()
	if code, body := get("/readyz?exclude=sink"); code != 200 || !strings.Contains(body, "[+]sink excluded") {
		t.Errorf("/readyz?exclude=sink = %d %q", code, body)
	}
	if n := sinkChecks.Load() - checked; n != 0 {
		t.Errorf("an excluded check ran %d times", n)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "podtap_pairs_dropped_total") && !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics = %d", code)
	}
}

// TestServeSurvivesATakenPort occupies the port first, as an application
// listening on it without declaring it does: Serve must not fail, and must
// serve once the port is free.
func TestServeSurvivesATakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := taken.Addr().String()
	retry := ListenRetry
	ListenRetry = 50 * time.Millisecond
	t.Cleanup(func() { ListenRetry = retry })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := Serve(ctx, addr, Check{Name: "capture", Fn: func() error { return nil }}); err != nil {
		t.Fatalf("Serve on a taken port: %v; the sidecar would exit", err)
	}
	taken.Close()
	var resp *http.Response
	for deadline := time.Now().Add(5 * time.Second); ; {
		if resp, err = http.Get("http://" + addr + "/healthz"); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("not served after the port was freed: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d", resp.StatusCode)
	}
}

func TestServeRejectsAnUnusableAddress(t *testing.T) {
	if err := Serve(context.Background(), "no-port"); err == nil || !strings.Contains(err.Error(), "metrics.addr") {
		t.Fatalf("Serve(no-port) = %v, want an error naming metrics.addr", err)
	}
}
