package capture_test

import (
	"errors"
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/metrics"
)

// TestVXLANSocketDrops floods an unread vxlan socket with the smallest
// buffer: the kernel's drops (SO_RXQ_OVFL) come with the next datagram
// read, in Stats and the metric.
func TestVXLANSocketDrops(t *testing.T) {
	pod := testenv.NewPod(t, "ptvs-", 219, 1)
	cfg := config.DefaultSidecar().Capture
	cfg.VXLAN.ReceiveBufferBytes = 64 * config.KiB
	var src *capture.VXLAN
	before := testutil.ToFloat64(metrics.KernelDrops)
	if err := pod.Do(func() error {
		var err error
		if src, err = capture.OpenVXLAN(cfg); err != nil {
			return err
		}
		c, err := net.Dial("udp", "127.0.0.1:4789")
		if err != nil {
			return err
		}
		defer c.Close()
		frame := make([]byte, 1400)
		frame[0] = 8
		for range 2000 {
			_, _ = c.Write(frame)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	read := 0
	drained := false
	for {
		data, _, err := src.ReadPacket()
		if errors.Is(err, capture.ErrTimeout) {
			if drained {
				break
			}
			// The kernel reports its count with the next datagram queued.
			drained = true
			if err := pod.Do(func() error {
				c, err := net.Dial("udp", "127.0.0.1:4789")
				if err != nil {
					return err
				}
				defer c.Close()
				frame := make([]byte, 1400)
				frame[0] = 8
				_, err = c.Write(frame)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(data) != 1400 || data[0] != 8 {
			t.Fatalf("datagram of %d bytes starting %x, want the 1400 sent", len(data), data[:1])
		}
		read++
	}
	st, err := src.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("read %d, stats %+v", read, st)
	if st.Drops == 0 || uint64(read)+st.Drops != 2001 || st.Packets != 2001 {
		t.Errorf("read %d, stats %+v; want drops, and read + drops = the 2001 sent", read, st)
	}
	if got := testutil.ToFloat64(metrics.KernelDrops) - before; got != float64(st.Drops) {
		t.Errorf("kernel drops metric grew by %v, stats say %d", got, st.Drops)
	}
}
