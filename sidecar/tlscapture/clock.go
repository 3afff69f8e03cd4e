package tlscapture

import (
	"time"

	"golang.org/x/sys/unix"
)

// bootOffset is wall time minus CLOCK_MONOTONIC, which bpf_ktime_get_ns
// reads, so event times become capture times like packets'.
func bootOffset() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return time.Duration(time.Now().UnixNano() - ts.Nano())
}
