// Package host is the bench's control of the machine: CPU limits as a pod
// has them (cgroups), pinning processes to CPUs, and reading a process's CPU
// time and memory from /proc.
package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CPULimit is a cgroup whose CPU bandwidth is capped, as a pod's CPU limit
// is. cgroup v2's cpu.max is used where the cpu controller is on the
// unified hierarchy; otherwise cgroup v1's cpu controller, whose
// cpu.cfs_quota_us and cpu.cfs_period_us are the same CFS bandwidth
// control that cpu.max sets (and that the kubelet sets on v1 nodes).
type CPULimit struct {
	dir string
	v2  bool
	// Cores is the limit in CPUs (0.25 is a quarter of one).
	Cores float64
}

const (
	cgroupRoot = "/sys/fs/cgroup"
	cfsPeriod  = 100 * time.Millisecond
)

// NewCPULimit creates cgroup name limited to cores CPUs.
func NewCPULimit(name string, cores float64) (*CPULimit, error) {
	quota := int64(cores * float64(cfsPeriod/time.Microsecond))
	period := int64(cfsPeriod / time.Microsecond)
	if controllers, err := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil &&
		strings.Contains(" "+string(controllers)+" ", " cpu ") {
		l := &CPULimit{dir: filepath.Join(cgroupRoot, name), v2: true, Cores: cores}
		// The root must delegate the cpu controller to its children.
		if err := os.WriteFile(filepath.Join(cgroupRoot, "cgroup.subtree_control"), []byte("+cpu"), 0); err != nil {
			return nil, fmt.Errorf("cgroup v2: enabling the cpu controller: %w", err)
		}
		if err := l.create(); err != nil {
			return nil, err
		}
		if err := l.write("cpu.max", fmt.Sprintf("%d %d", quota, period)); err != nil {
			return nil, errors.Join(err, l.Remove())
		}
		return l, nil
	}
	v1 := filepath.Join(cgroupRoot, "cpu")
	if _, err := os.Stat(filepath.Join(v1, "cpu.cfs_quota_us")); err != nil {
		return nil, fmt.Errorf("no cgroup CPU controller here: neither cgroup v2 with cpu nor cgroup v1's cpu hierarchy: %w", err)
	}
	l := &CPULimit{dir: filepath.Join(v1, name), Cores: cores}
	if err := l.create(); err != nil {
		return nil, err
	}
	if err := errors.Join(
		l.write("cpu.cfs_period_us", strconv.FormatInt(period, 10)),
		l.write("cpu.cfs_quota_us", strconv.FormatInt(quota, 10))); err != nil {
		return nil, errors.Join(err, l.Remove())
	}
	return l, nil
}

func (l *CPULimit) create() error {
	// A leftover of a killed run is reused.
	if err := os.Mkdir(l.dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("creating cgroup %s: %w", l.dir, err)
	}
	return nil
}

func (l *CPULimit) write(file, value string) error {
	if err := os.WriteFile(filepath.Join(l.dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("cgroup %s: writing %s: %w", l.dir, file, err)
	}
	return nil
}

// Kind names the mechanism, for the table's notes.
func (l *CPULimit) Kind() string {
	if l.v2 {
		return fmt.Sprintf("cgroup v2 cpu.max %.2f CPU", l.Cores)
	}
	return fmt.Sprintf("cgroup v1 cpu.cfs_quota_us %.2f CPU (no cpu controller on v2 here)", l.Cores)
}

// procsFile is where a process is written to join the cgroup.
func (l *CPULimit) ProcsFile() string { return filepath.Join(l.dir, "cgroup.procs") }

// throttled reads how many CFS periods throttled the cgroup so far: proof
// that the limit is enforced.
func (l *CPULimit) Throttled() int64 {
	b, err := os.ReadFile(filepath.Join(l.dir, "cpu.stat"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == "nr_throttled" {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// remove deletes the cgroup; its processes must have ended.
func (l *CPULimit) Remove() error {
	var err error
	for range 50 {
		if err = os.Remove(l.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("removing cgroup %s: %w", l.dir, err)
}
