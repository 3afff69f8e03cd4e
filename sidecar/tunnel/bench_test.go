package tunnel_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/sink"
	"github.com/podtap/podtap/sidecar/tunnel"
)

// benchCapture is HTTP/1 traffic of many methods, from the shared corpus.
const benchCapture = "../../testdata/corpus/http1-basic/methods.pcap"

// BenchmarkModes compares, on the same capture in the same run, what the
// sidecar spends per pair when it tunnels the packets (VXLAN to a real UDP
// socket on loopback) and when it parses them (the whole pipeline into a
// discarding sink). Both read the same file, so reading cancels out of
// the ratio; ns/pair × 1000 is the CPU time per second at 1,000 pairs/s.
func BenchmarkModes(b *testing.B) {
	// Each tunnel run logs its target once; the lines would break the
	// benchmark's output.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.DiscardHandler))
	cfg := config.DefaultSidecar()
	cfg.Filter.Enabled = false
	pairs := countPairs(b, cfg)
	if pairs == 0 {
		b.Fatal("the capture gave no pairs")
	}
	b.Run("parse", func(b *testing.B) {
		cpu := cpuTime(b)
		for b.Loop() {
			p, err := sidecar.New(cfg, sink.NewLines(io.Discard, nil), sidecar.Where{})
			if err != nil {
				b.Fatal(err)
			}
			src := open(b)
			if err := p.Run(context.Background(), src); err != nil {
				b.Fatal(err)
			}
			p.Close()
			src.Close()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*pairs), "ns/pair")
		b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N*pairs), "cpu-ns/pair")
	})
	b.Run("tunnel", func(b *testing.B) {
		rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		// Nobody reads rx: the kernel drops what overflows its buffer, so
		// the loopback's receive side costs as little as it can.
		defer rx.Close()
		cfg.Mode = config.ModeTunnel
		cfg.Tunnel.Target = rx.LocalAddr().String()
		before := counter(b, "podtap_tunnel_bytes_total")
		cpu := cpuTime(b)
		for b.Loop() {
			src := open(b)
			if err := tunnel.New(cfg.Tunnel).Run(context.Background(), src); err != nil {
				b.Fatal(err)
			}
			src.Close()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*pairs), "ns/pair")
		b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N*pairs), "cpu-ns/pair")
		b.ReportMetric((counter(b, "podtap_tunnel_bytes_total")-before)/float64(b.N*pairs), "udp-bytes/pair")
		if d := counter(b, "podtap_tunnel_drops_total"); d != 0 {
			b.Errorf("%v packets dropped", d)
		}
	})
}

// cpuTime is the process's user and system time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func open(b *testing.B) *capture.File {
	src, err := capture.OpenFile(benchCapture)
	if err != nil {
		b.Fatal(err)
	}
	return src
}

// countPairs replays the capture once and counts the pairs it gives.
func countPairs(b *testing.B, cfg config.Sidecar) int {
	before := counter(b, "podtap_pairs_total")
	p, err := sidecar.New(cfg, sink.NewLines(io.Discard, nil), sidecar.Where{})
	if err != nil {
		b.Fatal(err)
	}
	src := open(b)
	defer src.Close()
	if err := p.Run(context.Background(), src); err != nil {
		b.Fatal(err)
	}
	p.Close()
	return int(counter(b, "podtap_pairs_total") - before)
}
