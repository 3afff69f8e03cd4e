package flow

import (
	"fmt"
	"os"
	"context"
	"github.com/podtap/podtap/sidecar/capture"
	"testing"
	"time"

	"github.com/podtap/podtap/config"
)

type dbgStream struct {
	c   Conn
	off [2]int
}

func (d *dbgStream) Data(dir Dir, b []byte, ts time.Time) {
	s := string(b)
	if len(s) > 40 && !(d.off[dir] == 0 && os.Getenv("PTFX_HDR") != "") {
		s = s[:40]
	}
	fmt.Printf("%v %v data off=%d len=%d ts=%s %q\n", d.c.A.Port, dir, d.off[dir], len(b), ts.Format("15:04:05.000000"), s)
	d.off[dir] += len(b)
}
func (d *dbgStream) Gap(dir Dir, n int, ts time.Time) {
	fmt.Printf("%v %v GAP off=%d n=%d ts=%s\n", d.c.A.Port, dir, d.off[dir], n, ts.Format("15:04:05.000000"))
	d.off[dir] += n
}
func (d *dbgStream) Tick(time.Time)    {}
func (d *dbgStream) End(ts time.Time) { fmt.Printf("%v END %s\n", d.c.A.Port, ts.Format("15:04:05.000000")) }
func (d *dbgStream) Ignored() bool     { return false }

type dbgF struct{}

func (dbgF) NewStream(c Conn) Stream { return &dbgStream{c: c} }

func TestPtfxDebug(t *testing.T) {
	path := os.Getenv("PTFX_FILE")
	if path == "" {
		t.Skip()
	}
	cfg := config.DefaultSidecar().Flow
	cfg.Workers = 1
	src, _ := capture.OpenFile(path); New(cfg, 1, dbgF{}).Run(context.Background(), src)
	_ = dbgF{}
}
