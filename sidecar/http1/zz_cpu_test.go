package http1

import (
	"syscall"
	"testing"
	"time"
)

func TestZZCPU(t *testing.T) {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	req, resp := keepAliveJSON()
	c := NewConn(Options{}, &discard{})
	ts := time.Unix(1700000000, 0)
	const n = 2000000
	c0 := cpu()
	for range n {
		c.Feed(true, req, ts)
		c.Feed(false, resp, ts)
	}
	d := cpu() - c0
	t.Logf("%.0f pairs per CPU-second, %.0f MB per CPU-second", n/d.Seconds(), float64(n*(len(req)+len(resp)))/d.Seconds()/1e6)
}
