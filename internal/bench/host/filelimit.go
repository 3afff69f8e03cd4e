package host

import (
	"fmt"
	"syscall"
)

// MaxConns is the most connections a scenario holds open at once: the
// idle scenario's largest count.
const MaxConns = 100000

// minFileLimit is the open-file limit the bench needs in each process: one
// end of the many-connection capture's 10,000 connections, and some room.
// The idle scenario spreads its connections over processes by the limit
// (see ConnsPerProcess).
const minFileLimit = 10000 + fileReserve

// fileReserve is the files a process keeps besides its connections.
const fileReserve = 1024

// RaiseFileLimit lifts the open-file soft limit to the hard limit, and the
// hard limit to what MaxConns connections need where it is lower and the
// process may (root with CAP_SYS_RESOURCE); it fails when the limit stays
// under minFileLimit.
func RaiseFileLimit() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if want := uint64(MaxConns + fileReserve); lim.Max < want {
		// Without CAP_SYS_RESOURCE this fails, and the hard limit stands.
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want})
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return err
		}
	}
	if lim.Max < minFileLimit {
		return fmt.Errorf("the open-file hard limit is %d, and 10,000 connections need %d (ulimit -Hn)", lim.Max, minFileLimit)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raising the open-file limit: %w", err)
		}
	}
	return nil
}

// ConnsPerProcess is how many connection ends one process may hold under
// its open-file hard limit, with room for its other files.
func ConnsPerProcess() (int, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return int(min(lim.Max, 1<<30)) - fileReserve, nil
}
