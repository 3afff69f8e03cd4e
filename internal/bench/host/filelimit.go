package host

import (
	"fmt"
	"syscall"
)

// fileLimit is the open-file limit the many-connection scenarios need:
// one end of 10,000 connections per process, and some room.
const fileLimit = 10000 + 1024

// RaiseFileLimit lifts the open-file soft limit to the hard limit, which
// must allow fileLimit.
func RaiseFileLimit() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Max < fileLimit {
		return fmt.Errorf("the open-file hard limit is %d, and 10,000 connections need %d (ulimit -Hn)", lim.Max, fileLimit)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raising the open-file limit: %w", err)
		}
	}
	return nil
}
