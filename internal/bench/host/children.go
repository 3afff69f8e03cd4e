package host

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Children lists the child processes of pid (all its threads').
func Children(pid int) ([]int, error) {
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread exited since the listing
		}
		for _, field := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(field); err == nil {
				kids = append(kids, n)
			}
		}
	}
	return kids, nil
}

// WaitChild waits up to timeout for pid to have a child, and returns the
// first one.
func WaitChild(pid int, timeout time.Duration) (int, error) {
	for deadline := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		kids, err := Children(pid)
		if err != nil {
			return 0, err
		}
		if len(kids) > 0 {
			return kids[0], nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("process %d started no child in %v", pid, timeout)
		}
	}
}
